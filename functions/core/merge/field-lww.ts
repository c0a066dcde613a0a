import { compareVersion, describe, get, put, sameClock } from './clock';
import type { Change, Entry, FieldLwwDoc, MergeContext, Strategy } from './types';

/** An entry is visible only if it is newer than the newest delete. */
const beatsTomb = (ctx: MergeContext, e: Entry, t: FieldLwwDoc['t']) => !t || ctx.cmp(e.c, t) > 0;

/** Per-field last writer wins; an upsert touches only the fields it carries. */
export const fieldLww: Strategy<FieldLwwDoc> = {
  name: 'field-lww',
  empty: () => ({ s: 'field-lww', f: {} }),

  apply(ctx, doc, ch) {
    if (ch.op === 'delete') {
      if (doc.t && ctx.cmp(ch.clock, doc.t) <= 0) return;
      doc.t = ch.clock;
      // Entries older than the newest delete can never show again.
      for (const [field, e] of Object.entries(doc.f)) if (!beatsTomb(ctx, e, doc.t)) delete doc.f[field];
      return;
    }
    for (const [field, v] of Object.entries(ch.data ?? {})) {
      const e: Entry = { v, c: ch.clock };
      if (!beatsTomb(ctx, e, doc.t)) return;
      const cur = get(doc.f, field);
      if (!cur || compareVersion(ctx, e.c, e.v, cur.c, cur.v) > 0) put(doc.f, field, e);
    }
  },

  resolve(_ctx, doc) {
    const fields = new Map(Object.entries(doc.f));
    return { fields, deleted: doc.t !== undefined && fields.size === 0, open: [] };
  },

  contains: (doc, clock) =>
    (doc.t !== undefined && sameClock(doc.t, clock)) || Object.values(doc.f).some((e) => sameClock(e.c, clock)),

  explain(ctx, doc, ch) {
    if (ch.op === 'delete') {
      if (doc.t && !sameClock(doc.t, ch.clock)) return `older than delete ${describe(doc.t)}`;
      return 'every field is newer than the delete';
    }
    for (const field of Object.keys(ch.data ?? {})) {
      const cur = get(doc.f, field);
      if (cur && ctx.cmp(cur.c, ch.clock) > 0) return `${field} older than ${describe(cur.c)}`;
    }
    if (doc.t) return `older than delete ${describe(doc.t)}`;
    return 'no fields';
  },

  replay(doc) {
    return [...replayEntries(doc.f), ...(doc.t ? [{ clock: doc.t, op: 'delete' as const }] : [])];
  },
};

/** Groups per-field entries back into one upsert per clock. */
export function replayEntries(f: Record<string, Entry>): Change[] {
  const byId = new Map<string, Change>();
  for (const [field, e] of Object.entries(f)) {
    const id = JSON.stringify(e.c);
    let ch = byId.get(id);
    if (!ch) byId.set(id, (ch = { clock: e.c, op: 'upsert', data: {} }));
    put(ch.data!, field, e.v);
  }
  return [...byId.values()];
}

import { compareVersion, deepEqual, describe, get, holdsClock, lostTo, REVIEW_SOURCE, sameClock } from './clock';
import { put } from '../own-field';
import type { Change, Entry, FieldLwwDoc, MergeContext, Strategy } from './types';

/** Whether a change carries a field with the value its `before` already held: not an edit of that field (resolutions always are). */
export function unchangedField(ch: Change, field: string, v: unknown): boolean {
  if (ch.clock.src === REVIEW_SOURCE || !ch.before || !Object.hasOwn(ch.before, field) || ch.before[field] === undefined) return false;
  return deepEqual(ch.before[field], v);
}

/** Drops the field's unchanged entry once an edit at least as new, or a delete, hides it for good; answers whether it did. */
function pruneUnchanged(ctx: MergeContext, doc: FieldLwwDoc, field: string): boolean {
  const u = doc.u && get(doc.u, field);
  if (!u) return false;
  const e = get(doc.f, field);
  if ((e && ctx.cmp(u.c, e.c) <= 0) || !beatsTomb(ctx, u, doc.t)) delete doc.u![field];
  else return false;
  if (Object.keys(doc.u!).length === 0) delete doc.u;
  return true;
}

/** An entry is visible only if it is newer than the newest delete. */
const beatsTomb = (ctx: MergeContext, e: Entry, t: FieldLwwDoc['t']) => !t || ctx.cmp(e.c, t) > 0;

/** Per-field last writer wins; an upsert touches only the fields it carries. */
export const fieldLww: Strategy<FieldLwwDoc> = {
  name: 'field-lww',
  empty: () => ({ s: 'field-lww', f: {} }),
  copy: (doc) => (doc.u ? { ...doc, f: { ...doc.f }, u: { ...doc.u } } : { ...doc, f: { ...doc.f } }),

  apply(ctx, doc, ch) {
    if (ch.op === 'delete') {
      if (doc.t && ctx.cmp(ch.clock, doc.t) <= 0) return false;
      doc.t = ch.clock;
      // Entries older than the newest delete can never show again.
      for (const [field, e] of Object.entries(doc.f)) if (!beatsTomb(ctx, e, doc.t)) delete doc.f[field];
      for (const field of Object.keys(doc.u ?? {})) pruneUnchanged(ctx, doc, field);
      return true;
    }
    const data = ch.data ?? {};
    // Every field of the change has its clock, and an upsert never moves the tombstone: one comparison for all.
    if (doc.t && ctx.cmp(ch.clock, doc.t) <= 0) return false;
    let changed = false;
    for (const field of Object.keys(data)) {
      const v = data[field];
      const e: Entry = { v, c: ch.clock };
      if (unchangedField(ch, field, v)) {
        const cur = doc.u && get(doc.u, field);
        // An edit at least as new hides it at once (pruneUnchanged): not written, so the doc is not changed for nothing.
        const edit = get(doc.f, field);
        if (edit && ctx.cmp(e.c, edit.c) <= 0) {
          if (pruneUnchanged(ctx, doc, field)) changed = true;
          continue;
        }
        if (!cur || compareVersion(ctx, e.c, e.v, cur.c, cur.v) > 0) {
          put((doc.u ??= {}), field, e);
          changed = true;
        }
      } else {
        const cur = get(doc.f, field);
        if (!cur || compareVersion(ctx, e.c, e.v, cur.c, cur.v) > 0) {
          put(doc.f, field, e);
          changed = true;
        }
      }
      if (pruneUnchanged(ctx, doc, field)) changed = true;
    }
    return changed;
  },

  resolve(_ctx, doc) {
    const fields = mapOf(doc.f);
    for (const [field, e] of Object.entries(doc.u ?? {})) if (!fields.has(field)) fields.set(field, e);
    const deleted = doc.t !== undefined && fields.size === 0;
    return { fields, deleted, ...(deleted ? { tomb: doc.t } : {}), open: [] };
  },

  contains: (doc, clock) => (doc.t !== undefined && sameClock(doc.t, clock)) || holdsClock(doc.f, clock) || (doc.u !== undefined && holdsClock(doc.u, clock)),

  explain(ctx, doc, ch) {
    if (ch.op === 'delete') {
      if (doc.t && !sameClock(doc.t, ch.clock)) return lostTo(doc.t, ch.clock, 'delete ');
      return 'every field is newer than the delete';
    }
    for (const field of Object.keys(ch.data ?? {})) {
      const cur = get(doc.f, field);
      if (cur && ctx.cmp(cur.c, ch.clock) > 0) return `${field} ${lostTo(cur.c, ch.clock)}`;
      if (cur && unchangedField(ch, field, ch.data![field])) return `${field} unchanged by it, edited by ${describe(cur.c)}`;
    }
    if (doc.t) return lostTo(doc.t, ch.clock, 'delete ');
    return 'no fields';
  },

  replay(doc) {
    return [...replayEntries(doc.f), ...replayEntries(doc.u ?? {}, true), ...(doc.t ? [{ clock: doc.t, op: 'delete' as const }] : [])];
  },
};

/** The entries of a record of them, as a Map in the same order. */
export function mapOf<T>(record: Record<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const k of Object.keys(record)) out.set(k, record[k]!);
  return out;
}

/** Groups per-field entries back into one upsert per clock; `unchanged` ones carry themselves as `before`. */
export function replayEntries(f: Record<string, Entry>, unchanged = false): Change[] {
  const byId = new Map<string, Change>();
  for (const [field, e] of Object.entries(f)) {
    const id = JSON.stringify(e.c);
    let ch = byId.get(id);
    if (!ch) byId.set(id, (ch = { clock: e.c, op: 'upsert', data: {} }));
    put(ch.data!, field, e.v);
    if (unchanged) put((ch.before ??= {}), field, e.v);
  }
  return [...byId.values()];
}

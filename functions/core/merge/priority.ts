import { compareVersion, describe, get, holdsClock, sameClock } from './clock';
import { put } from '../own-field';
import { getPath } from '../envelope';
import { mapOf, replayEntries } from './field-lww';
import type { Clock, Entry, MergeContext, PriorityDoc, Strategy } from './types';

/** Rank of a source for a field: listed sources by position (first is highest), unlisted below all. */
export function rankOf(ctx: MergeContext, field: string, src: string): number {
  return rankIn(rankingOf(ctx, field), src);
}

function rankingOf(ctx: MergeContext, field: string): readonly string[] {
  const map = ctx.flow.conflict.priority ?? {};
  return get(map, field) ?? get(map, '*') ?? [];
}

function rankIn(list: readonly string[], src: string): number {
  const i = list.indexOf(src);
  return i < 0 ? 0 : list.length - i;
}

/** The field's order of two clocks: rank, then clock. Positive when `a` wins. */
function cmpField(ctx: MergeContext, field: string, a: Clock, b: Clock): number {
  return rankOf(ctx, field, a.src) - rankOf(ctx, field, b.src) || ctx.cmp(a, b);
}

/** The field's order of two values: rank, then clock, then content (what `apply` keeps). Positive when `a` wins. */
export function cmpFieldEntry(ctx: MergeContext, field: string, a: Entry, b: Entry): number {
  return rankOf(ctx, field, a.c.src) - rankOf(ctx, field, b.c.src) || compareVersion(ctx, a.c, a.v, b.c, b.v);
}

/** The tombstone that wins under the field's order, if any. */
function bestTomb(ctx: MergeContext, doc: PriorityDoc, field: string): Clock | undefined {
  let best: Clock | undefined;
  for (const t of Object.values(doc.t)) if (!best || cmpField(ctx, field, t, best) > 0) best = t;
  return best;
}

/**
 * The delete behind a deleted record: of the deletes that win under some ranking (the default "*" and each field's),
 * the latest. Each source keeps its newest delete; which of them removed the last field depends on the rankings.
 */
function recordTomb(ctx: MergeContext, doc: PriorityDoc): Clock | undefined {
  let latest: Clock | undefined;
  for (const field of ['*', ...Object.keys(ctx.flow.conflict.priority ?? {})]) {
    const t = bestTomb(ctx, doc, field);
    if (t && (!latest || ctx.cmp(t, latest) > 0)) latest = t;
  }
  return latest;
}

/** Whether a key field (a dot path) has no value among the fields shown. */
function lacksKey(ctx: MergeContext, fields: ReadonlyMap<string, Entry>): boolean {
  return ctx.flow.key.some((path) => {
    const top = path.split('.', 1)[0]!;
    return getPath({ [top]: fields.get(top)?.v }, path) == null;
  });
}

/** Per-field source ranking with lww within equal rank; deletes compete under the same ranking. */
export const priority: Strategy<PriorityDoc> = {
  name: 'priority',
  empty: () => ({ s: 'priority', f: {}, t: {} }),
  copy: (doc) => ({ ...doc, f: { ...doc.f }, t: { ...doc.t } }),

  apply(ctx, doc, ch) {
    if (ch.op === 'delete') {
      const cur = get(doc.t, ch.clock.src);
      if (cur && ctx.cmp(ch.clock, cur) <= 0) return false;
      put(doc.t, ch.clock.src, ch.clock);
      // Entries this delete outranks can never show again.
      for (const [field, e] of Object.entries(doc.f)) if (cmpField(ctx, field, ch.clock, e.c) > 0) delete doc.f[field];
      return true;
    }
    let changed = false;
    const data = ch.data ?? {};
    const tombs = Object.keys(doc.t).length > 0;
    for (const field of Object.keys(data)) {
      const v = data[field];
      if (tombs) {
        const t = bestTomb(ctx, doc, field);
        if (t && cmpField(ctx, field, t, ch.clock) > 0) continue;
      }
      const cur = get(doc.f, field);
      const e: Entry = { v, c: ch.clock };
      if (cur) {
        // cmpFieldEntry, with the field's ranking looked up once
        const list = rankingOf(ctx, field);
        const order = rankIn(list, ch.clock.src) - rankIn(list, cur.c.src) || compareVersion(ctx, e.c, e.v, cur.c, cur.v);
        if (order <= 0) continue;
      }
      put(doc.f, field, e);
      changed = true;
    }
    return changed;
  },

  resolve(ctx, doc) {
    const fields = mapOf(doc.f);
    if (Object.keys(doc.t).length === 0 || (fields.size > 0 && !lacksKey(ctx, fields))) return { fields, deleted: false, open: [] };
    // A delete that outranks the key fields deletes the record, though fields ranked otherwise outlive it in the doc
    // (an upsert with the key brings them back): a record without its key is no record a target could take.
    return { fields: new Map(), deleted: true, tomb: recordTomb(ctx, doc), open: [] };
  },

  contains: (doc, clock) => Object.values(doc.t).some((t) => sameClock(t, clock)) || holdsClock(doc.f, clock),

  explain(ctx, doc, ch) {
    if (ch.op === 'delete') {
      const cur = get(doc.t, ch.clock.src);
      if (cur && !sameClock(cur, ch.clock)) return `older than delete ${describe(cur)}`;
      return 'every field is newer or outranks the delete';
    }
    for (const field of Object.keys(ch.data ?? {})) {
      const cur = get(doc.f, field);
      if (cur && cmpField(ctx, field, cur.c, ch.clock) > 0) {
        return rankOf(ctx, field, cur.c.src) > rankOf(ctx, field, ch.clock.src)
          ? `${field} outranked by ${cur.c.src}`
          : `${field} older than ${describe(cur.c)}`;
      }
      const t = bestTomb(ctx, doc, field);
      if (t && cmpField(ctx, field, t, ch.clock) > 0) return `${field} hidden by delete ${describe(t)}`;
    }
    return 'no fields';
  },

  replay(doc) {
    return [...replayEntries(doc.f), ...Object.values(doc.t).map((clock) => ({ clock, op: 'delete' as const }))];
  },
};

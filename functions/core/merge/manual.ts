import { compareVersion, deepEqual, describe, get, holdsClock, lostTo, REVIEW_SOURCE, sameClock } from './clock';
import { put } from '../own-field';
import type { Change, Clock, ManualDoc, ManualEntry, MergeContext, Resolved, Strategy } from './types';

/**
 * Whether an entry edited its field: not when its change carried the field with the value its `before` already held,
 * as a whole-item source (a DynamoDB stream image) does for every field it did not touch. Resolutions always edit.
 */
export function edited(e: ManualEntry): boolean {
  return e.c.src === REVIEW_SOURCE || !(Object.hasOwn(e, 'b') && deepEqual(e.b, e.v));
}

/** Slot of an entry in its field: the latest edit per source, and apart from it the latest unchanged carry per source. */
const slotOf = (e: ManualEntry) => (edited(e) ? e.c.src : `${e.c.src} (unchanged)`);

/** The field's display order: entries that only carried the field unchanged first, then by clock. */
function cmpEntry(ctx: MergeContext, a: ManualEntry, b: ManualEntry): number {
  return Number(edited(a)) - Number(edited(b)) || ctx.cmp(a.c, b.c);
}

/**
 * Two entries from different sources are concurrent unless one did not edit the field, the later one saw the
 * earlier value, or they are further apart than the window.
 */
export function concurrent(ctx: MergeContext, a: ManualEntry, b: ManualEntry): boolean {
  if (a.c.src === b.c.src) return false;
  if (!edited(a) || !edited(b)) return false;
  const [x, y] = ctx.cmp(a.c, b.c) < 0 ? [a, b] : [b, a];
  if (Object.hasOwn(y, 'b') && deepEqual(y.b, x.v)) return false;
  if (ctx.windowMs !== undefined && Math.abs(y.c.ts - x.c.ts) > ctx.windowMs) return false;
  return true;
}

/** Drops entries of a field older than `bound`: they can never show again. */
function pruneBelow(ctx: MergeContext, doc: ManualDoc, field: string, bound: Clock): void {
  const m = get(doc.f, field);
  if (!m) return;
  for (const [src, e] of Object.entries(m)) if (ctx.cmp(e.c, bound) < 0) delete m[src];
  if (Object.keys(m).length === 0) delete doc.f[field];
}

/** The entry of a field that one source alone has written (the usual case), without listing the entries. */
function onlyEntry(m: Record<string, ManualEntry>): ManualEntry | undefined {
  let found: ManualEntry | undefined;
  for (const slot in m) {
    if (!Object.hasOwn(m, slot)) continue;
    if (found) return undefined;
    found = m[slot];
  }
  return found;
}

function resolveField(ctx: MergeContext, m: Record<string, ManualEntry>): { current: ManualEntry; parked: ManualEntry[] } {
  const all = Object.values(m);
  if (all.length === 1) return { current: all[0]!, parked: [] };
  // Entries that only carried the field unchanged come first, so they show only when no edit of the field is there.
  const entries = all.sort((a, b) => cmpEntry(ctx, a, b));
  const shown: ManualEntry[] = [];
  const parked: ManualEntry[] = [];
  // An entry is parked when it differs from, and is concurrent with, an earlier entry that is itself shown.
  for (const e of entries) (shown.some((s) => !deepEqual(s.v, e.v) && concurrent(ctx, s, e)) ? parked : shown).push(e);
  return { current: shown[shown.length - 1], parked };
}

/** Concurrent edits of a field by different sources are parked for review; the rest merges per field. */
export const manual: Strategy<ManualDoc> = {
  name: 'manual',
  empty: () => ({ s: 'manual', f: {} }),
  copy(doc) {
    const f: ManualDoc['f'] = {};
    for (const field of Object.keys(doc.f)) put(f, field, { ...doc.f[field] });
    return { ...doc, f };
  },

  apply(ctx, doc, ch) {
    if (doc.t && ctx.cmp(ch.clock, doc.t) <= 0) return false;
    if (ch.op === 'delete') {
      doc.t = ch.clock;
      for (const field of Object.keys(doc.f)) pruneBelow(ctx, doc, field, ch.clock);
      return true;
    }
    let changed = false;
    const data = ch.data ?? {};
    for (const field of Object.keys(data)) {
      const v = data[field];
      const found = get(doc.f, field);
      const review = found && get(found, REVIEW_SOURCE);
      if (review && ctx.cmp(ch.clock, review.c) < 0) continue;
      const e: ManualEntry = { v, c: ch.clock };
      if (ch.before && Object.hasOwn(ch.before, field) && ch.before[field] !== undefined) e.b = ch.before[field];
      const slot = slotOf(e);
      const cur = found && get(found, slot);
      // Content decides only between equal clocks.
      if (cur && (ctx.cmp(e.c, cur.c) || compareVersion(ctx, e.c, { v: e.v, b: e.b }, cur.c, { v: cur.v, b: cur.b })) <= 0) continue;
      let m = found;
      if (!m) put(doc.f, field, (m = {}));
      put(m, slot, e);
      changed = true;
      // A resolution closes everything older on its field.
      if (ch.clock.src === REVIEW_SOURCE) pruneBelow(ctx, doc, field, ch.clock);
    }
    return changed;
  },

  resolve(ctx, doc): Resolved {
    const fields: Resolved['fields'] = new Map();
    const open: Resolved['open'] = [];
    for (const field of Object.keys(doc.f)) {
      const m = doc.f[field]!;
      const single = onlyEntry(m);
      if (single) {
        fields.set(field, single);
        continue;
      }
      const { current, parked } = resolveField(ctx, m);
      fields.set(field, current);
      for (const p of parked) {
        // A parked entry that the displayed one saw, or that matches it, is settled.
        if (!deepEqual(p.v, current.v) && concurrent(ctx, current, p)) open.push({ field, current, incoming: p });
      }
    }
    const deleted = doc.t !== undefined && fields.size === 0;
    return { fields, deleted, ...(deleted ? { tomb: doc.t } : {}), open };
  },

  contains(doc, clock) {
    if (doc.t !== undefined && sameClock(doc.t, clock)) return true;
    for (const field in doc.f) if (Object.hasOwn(doc.f, field) && holdsClock(doc.f[field]!, clock)) return true;
    return false;
  },

  explain(ctx, doc, ch) {
    if (ch.op === 'delete') return doc.t && !sameClock(doc.t, ch.clock) ? lostTo(doc.t, ch.clock, 'delete ') : 'every field is newer than the delete';
    for (const field of Object.keys(ch.data ?? {})) {
      const m = get(doc.f, field);
      if (!m) {
        if (doc.t) return lostTo(doc.t, ch.clock, 'delete ');
        continue;
      }
      const review = get(m, REVIEW_SOURCE);
      if (review && ctx.cmp(review.c, ch.clock) > 0) return `${field} older than resolution ${describe(review.c)}`;
      const same = get(m, slotOf({ v: ch.data![field], c: ch.clock, ...(ch.before && Object.hasOwn(ch.before, field) && ch.before[field] !== undefined ? { b: ch.before[field] } : {}) }));
      if (same && !sameClock(same.c, ch.clock)) return `${field} ${lostTo(same.c, ch.clock)}`;
      const { current } = resolveField(ctx, m);
      if (!sameClock(current.c, ch.clock)) return `${field} settled by ${describe(current.c)}`;
    }
    return 'no fields';
  },

  replay(doc) {
    const byId = new Map<string, Change>();
    for (const [field, m] of Object.entries(doc.f)) {
      for (const e of Object.values(m)) {
        const id = JSON.stringify(e.c);
        let ch = byId.get(id);
        if (!ch) byId.set(id, (ch = { clock: e.c, op: 'upsert', data: {} }));
        put(ch.data!, field, e.v);
        if (Object.hasOwn(e, 'b')) put((ch.before ??= {}), field, e.b);
      }
    }
    return [...byId.values(), ...(doc.t ? [{ clock: doc.t, op: 'delete' as const }] : [])];
  },
};

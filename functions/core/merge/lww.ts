import { compareVersion, lostTo, sameClock } from './clock';
import type { Change, Entry, LwwDoc, Strategy } from './types';

/** Record-level last writer wins: the greatest change (upsert or delete) is the whole record. */
export const lww: Strategy<LwwDoc> = {
  name: 'lww',
  empty: () => ({ s: 'lww' }),
  copy: (doc) => ({ ...doc }),

  apply(ctx, doc, ch) {
    const next: NonNullable<LwwDoc['w']> = ch.op === 'delete' ? { c: ch.clock } : { c: ch.clock, d: ch.data ?? {} };
    const cur = doc.w;
    if (cur && compareVersion(ctx, next.c, next.d ?? null, cur.c, cur.d ?? null) <= 0) return false;
    doc.w = next;
    return true;
  },

  resolve(_ctx, doc) {
    const fields = new Map<string, Entry>();
    const w = doc.w;
    const d = w?.d;
    if (d) for (const k of Object.keys(d)) fields.set(k, { v: d[k], c: w.c });
    const deleted = w !== undefined && w.d === undefined;
    return { fields, deleted, ...(deleted ? { tomb: w.c } : {}), open: [] };
  },

  contains: (doc, clock) => doc.w !== undefined && sameClock(doc.w.c, clock),

  explain(_ctx, doc, ch) {
    const w = doc.w;
    if (!w) return 'no state';
    return lostTo(w.c, ch.clock, w.d ? '' : 'delete ');
  },

  replay(doc): Change[] {
    const w = doc.w;
    if (!w) return [];
    return [w.d ? { clock: w.c, op: 'upsert', data: w.d } : { clock: w.c, op: 'delete' }];
  },
};

import { put } from '../own-field';
import type { Clock, MergeDoc } from './types';

/**
 * A doc as stored: every clock replaced by its index in one table of distinct clocks, each an array
 * `[ts, src, seq, id, pos?]`. A record's fields mostly share a few changes, so the clocks (an event id each)
 * are written once instead of once per field.
 */
export interface PackedDoc {
  readonly c: readonly (readonly unknown[])[];
  readonly d: unknown;
}

type Rec = Record<string, unknown>;
type ClockMap = (clock: unknown) => unknown;

function mapValues(obj: unknown, fn: (value: Rec) => unknown): Rec | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const out: Rec = {};
  for (const [k, v] of Object.entries(obj as Rec)) put(out, k, fn(v as Rec));
  return out;
}

/** An entry `{ v, c, b? }` with its clock mapped; values are carried as they are. */
const entry = (e: Rec, fn: ClockMap): Rec => ({ ...e, c: fn(e.c) });

const withOptional = (out: Rec, name: string, value: unknown) => {
  if (value !== undefined) out[name] = value;
  return out;
};

/** The doc with each clock (at the positions the strategies keep them) replaced by `fn(clock)`. */
function mapClocks(doc: Rec, fn: ClockMap): Rec {
  const out: Rec = { s: doc.s };
  withOptional(out, 'k', doc.k);
  switch (doc.s) {
    case 'lww': {
      const w = doc.w as Rec | undefined;
      if (w) out.w = withOptional({ c: fn(w.c) }, 'd', w.d);
      break;
    }
    case 'field-lww':
      out.f = mapValues(doc.f, (e) => entry(e, fn));
      withOptional(out, 'u', mapValues(doc.u, (e) => entry(e, fn)));
      if (doc.t !== undefined) out.t = fn(doc.t);
      break;
    case 'priority':
      out.f = mapValues(doc.f, (e) => entry(e, fn));
      out.t = mapValues(doc.t, (c) => fn(c));
      break;
    case 'manual':
      out.f = mapValues(doc.f, (bySource) => mapValues(bySource, (e) => entry(e, fn)));
      if (doc.t !== undefined) out.t = fn(doc.t);
      break;
    default:
      throw new Error(`unknown merge strategy "${String(doc.s)}" in stored state`);
  }
  if (doc.x) {
    out.x = mapValues(doc.x, (log) => {
      const l = log.l as Rec | undefined;
      const next: Rec = { f: mapValues(log.f, (e) => entry(e, fn)) };
      if (log.t !== undefined) next.t = fn(log.t);
      if (l) next.l = { ...l, c: fn(l.c) };
      return next;
    });
  }
  return out;
}

export function packDoc(doc: MergeDoc): PackedDoc {
  const table: unknown[][] = [];
  const index = new Map<string, number>();
  // The fields of one change share its clock object: one serialization per object, not per field.
  const byObject = new Map<unknown, number>();
  const d = mapClocks(doc as unknown as Rec, (clock) => {
    let i = byObject.get(clock);
    if (i !== undefined) return i;
    const c = clock as Clock;
    const row: unknown[] = c.pos === undefined ? [c.ts, c.src, c.seq, c.id] : [c.ts, c.src, c.seq, c.id, c.pos];
    const id = JSON.stringify(row);
    i = index.get(id);
    if (i === undefined) {
      i = table.length;
      index.set(id, i);
      table.push(row);
    }
    byObject.set(clock, i);
    return i;
  });
  return { c: table, d };
}

export function unpackDoc(packed: PackedDoc): MergeDoc {
  const clocks: Clock[] = packed.c.map((row) => {
    const [ts, src, seq, id, pos] = row as [number, string, string, string, string | undefined];
    return pos === undefined ? { ts, src, seq, id } : { ts, src, seq, id, pos };
  });
  return mapClocks(packed.d as Rec, (i) => {
    const clock = clocks[i as number];
    if (!clock) throw new Error(`stored state refers to clock ${String(i)} of ${clocks.length}`);
    return clock;
  }) as unknown as MergeDoc;
}

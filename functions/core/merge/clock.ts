import { canonicalJson, type ChangeEnvelope } from '../envelope';
import type { FlowConfig } from '../../config/schema';
import { parseDurationMs } from '../duration';
import type { Change, Clock, MergeContext } from './types';

/** Reserved source of manual resolutions. */
export const REVIEW_SOURCE = 'syncline:review';

export function clockOf(env: ChangeEnvelope): Clock {
  return env.pos !== undefined ? { ts: env.ts, src: env.source, seq: env.seq, id: env.id, pos: env.pos } : { ts: env.ts, src: env.source, seq: env.seq, id: env.id };
}

export function changeOf(env: ChangeEnvelope): Change {
  const ch: Change = { clock: clockOf(env), op: env.op };
  if (env.op === 'upsert') ch.data = env.data ?? {};
  if (env.before) ch.before = env.before;
  if (env.op === 'upsert' && env.keep && env.keep.length > 0) ch.keep = [...env.keep];
  return ch;
}

const DIGITS = /^\d+$/;

/** Numeric order for digit strings of any length (stream sequence numbers exceed 2^53). */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Order of clocks; positive when `a` wins. Two clocks of one source that both have a log position compare by
 * position first. Otherwise by ts, then source order (earlier ranks higher; unlisted sources rank below listed
 * ones), then seq (numeric when both are digits), then id. Total within one source and across sources; the merge
 * keeps each positioned source's changes apart (`SourceLog`) so the two orders never meet in one comparison chain.
 */
export function compareClock(a: Clock, b: Clock, sourceOrder: readonly string[]): number {
  if (a.src === b.src && a.pos !== undefined && b.pos !== undefined && a.pos !== b.pos) return compareStr(a.pos, b.pos);
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.src !== b.src) {
    const ia = sourceOrder.indexOf(a.src);
    const ib = sourceOrder.indexOf(b.src);
    const ra = ia < 0 ? Infinity : ia;
    const rb = ib < 0 ? Infinity : ib;
    if (ra !== rb) return ra < rb ? 1 : -1;
    return compareStr(b.src, a.src);
  }
  if (a.seq !== b.seq) {
    const n = DIGITS.test(a.seq) && DIGITS.test(b.seq) ? compareDigits(a.seq, b.seq) : 0;
    return n !== 0 ? Math.sign(n) : compareStr(a.seq, b.seq);
  }
  return compareStr(a.id, b.id);
}

/** Whether an entry of a record of them has this clock (own entries only, as Object.values lists them). */
export function holdsClock(entries: Readonly<Record<string, { c: Clock }>>, clock: Clock): boolean {
  for (const k in entries) if (Object.hasOwn(entries, k) && sameClock(entries[k]!.c, clock)) return true;
  return false;
}

export function sameClock(a: Clock, b: Clock): boolean {
  return a === b || (a.ts === b.ts && a.src === b.src && a.seq === b.seq && a.id === b.id && a.pos === b.pos);
}

/** Clock order, then content: keeps the join deterministic even if two different payloads share one clock. */
export function compareVersion(ctx: MergeContext, a: Clock, av: unknown, b: Clock, bv: unknown): number {
  const c = ctx.cmp(a, b);
  if (c !== 0) return c;
  return compareStr(canonicalJson(av) ?? '', canonicalJson(bv) ?? '');
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return a === b || (sameJson(a, b) ?? canonicalJson(a) === canonicalJson(b));
}

/**
 * Whether two values have the same canonical JSON, found without serializing them: undefined when either holds
 * something that JSON drops or rewrites (undefined, a non-finite number, a `__proto__` key...), for the caller to
 * compare canonicalJson instead. JSON text is self-delimiting, so one differing part means different texts.
 */
export function sameJson(a: unknown, b: unknown): boolean | undefined {
  if (a === b) return true;
  const ka = jsonKind(a);
  const kb = jsonKind(b);
  if (ka === undefined || kb === undefined) return undefined;
  if (ka !== kb) return false;
  if (ka === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      const same = sameJson(x[i], y[i]);
      if (same !== true) return same;
    }
    return true;
  }
  if (ka !== 'object') return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  const other = Object.keys(y);
  // Keys JSON leaves out (undefined or function values) make the key counts say nothing.
  for (const [o, ks] of [[x, keys], [y, other]] as const) for (const k of ks) if (jsonKind(o[k]) === undefined) return undefined;
  if (keys.length !== other.length) return false;
  for (const k of keys) if (!Object.hasOwn(y, k)) return false;
  for (const k of keys) {
    const same = sameJson(x[k], y[k]);
    if (same !== true) return same;
  }
  return true;
}

/** The JSON kind of a value that JSON.stringify writes as it is; undefined for the rest (undefined, functions, NaN...). */
export function jsonKind(v: unknown): 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object' | undefined {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isFinite(v) ? 'number' : undefined;
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'array';
      // Own `toJSON` and `__proto__` keys change what JSON.stringify writes for the object.
      return Object.hasOwn(v, 'toJSON') || Object.hasOwn(v, '__proto__') ? undefined : 'object';
    default:
      return undefined;
  }
}

export function describe(c: Clock): string {
  return `ts=${c.ts} from ${c.src}${c.pos !== undefined ? ` at ${c.pos}` : ''}`;
}

/** Why `loser` lost to `winner` (`what` names it, e.g. `delete `): older, or at the same ts, ordered after by the tie rule. */
export function lostTo(winner: Clock, loser: Clock, what = ''): string {
  const byPosition = winner.src === loser.src && winner.pos !== undefined && loser.pos !== undefined;
  return winner.ts === loser.ts && !byPosition ? `at the same ts as ${what}${describe(winner)}, which wins the tie` : `older than ${what}${describe(winner)}`;
}

export function get<T>(obj: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Contexts by flow: a flow's config does not change once loaded, and a merge asks for it on every call. */
const contexts = new WeakMap<FlowConfig, MergeContext>();

export function contextOf(flow: FlowConfig): MergeContext {
  let ctx = contexts.get(flow);
  if (!ctx) contexts.set(flow, (ctx = newContext(flow)));
  return ctx;
}

function newContext(flow: FlowConfig): MergeContext {
  const order = flow.conflict.sourceOrder ?? flow.sources.map((s) => s.id);
  const window = flow.conflict.concurrencyWindow;
  return {
    flow,
    order,
    cmp: (a, b) => compareClock(a, b, order),
    ...(window !== undefined ? { windowMs: parseDurationMs(window) } : {}),
  };
}

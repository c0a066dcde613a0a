import crypto, { createHash } from 'node:crypto';

/**
 * `contentHash` (envelope.ts) of a view's data, the same text hashed the same way, with the key order of each object
 * shape sorted once: the records of a flow mostly share a few shapes, and sorting their keys was most of the cost.
 */
export function viewHash(data: Record<string, unknown> | null): string {
  return sha256(data ? JSON.stringify(sortKeys(data)) : 'null').slice(0, 22);
}

const sha256: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'base64url') : (text) => createHash('sha256').update(text).digest('base64url');

/** Recently sorted key lists: the keys as Object.keys gave them, and sorted. */
const recent: { keys: string[]; sorted: string[] }[] = [];
let next = 0;
const RECENT = 16;

/** `keys.sort()` without changing `keys`: the sorted order depends only on which keys there are. */
function sorted(keys: string[]): string[] {
  for (let i = 0; i < recent.length; i++) {
    const r = recent[i]!;
    if (r.keys.length === keys.length && sameList(r.keys, keys)) return r.sorted;
  }
  const out = keys.slice().sort();
  recent[next] = { keys, sorted: out };
  next = (next + 1) % RECENT;
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The same copy as canonicalJson's: arrays mapped, object keys sorted, undefined values left out. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of sorted(Object.keys(value))) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

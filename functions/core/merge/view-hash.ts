import { sha256, sortKeys } from '../envelope';

/**
 * `contentHash` (envelope.ts) of a view's data, the same text hashed the same way, with the key order of each object
 * shape sorted once: the records of a flow mostly share a few shapes, and sorting their keys was most of the cost.
 */
export function viewHash(data: Record<string, unknown> | null): string {
  return sha256(data ? JSON.stringify(sortKeys(data, sorted)) : 'null').slice(0, 22);
}

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

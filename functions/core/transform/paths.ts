import { put } from '../own-field';

/**
 * Dotted paths (`address.city`), split once when a transform is compiled. Writes copy a nested container the first
 * time they change it (copy on write), so a record can share what it does not change with the input it came from
 * instead of cloning all of it.
 */
export type Path = readonly string[];

type Rec = Record<string, unknown>;

/** Containers of a record that may be changed in place: those made or copied for it. `null`: all of them. */
export type Owned = Set<object> | null;

export const splitPath = (path: string): Path => path.split('.');

export const isNested = (path: string): boolean => path.includes('.');

export function getIn(record: unknown, path: Path): unknown {
  let cur = record;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const key = path[i]!;
    // Only own fields: `__proto__` would read the prototype itself (`constructor` and the like are functions).
    cur = key === '__proto__' && !Object.hasOwn(cur, key) ? undefined : (cur as Rec)[key];
  }
  return typeof cur === 'function' ? undefined : cur;
}

/** A path segment that names an array element. */
const ARRAY_INDEX = /^(0|[1-9]\d*)$/;

/**
 * Every place a dotted path may name in a record, each as the keys that lead there: an array on the way stands for
 * each of its elements, and a field whose name holds a dot (`contact.email` as one field) matches those segments
 * too. Masks and excludes go by these, so PII is caught wherever its path could mean.
 */
export function trailsOf(record: unknown, path: Path): string[][] {
  const out: string[][] = [];
  const trail: string[] = [];
  const visit = (cur: unknown, i: number): void => {
    if (i === path.length) {
      if (cur !== undefined && typeof cur !== 'function') out.push([...trail]);
      return;
    }
    if (cur === null || typeof cur !== 'object') return;
    if (Array.isArray(cur)) {
      // A segment that is an index (`phones.0.number`) names that element only; any other reaches into each one.
      // (Doing both would reach nested arrays' elements many times over: a record could make that explode.)
      const seg = path[i]!;
      if (ARRAY_INDEX.test(seg)) {
        if (Number(seg) < cur.length) {
          trail.push(seg);
          visit(cur[Number(seg)], i + 1);
          trail.pop();
        }
        return;
      }
      for (let j = 0; j < cur.length; j++) {
        trail.push(String(j));
        visit(cur[j], i);
        trail.pop();
      }
      return;
    }
    let key = '';
    for (let k = i; k < path.length; k++) {
      key = k === i ? path[k]! : `${key}.${path[k]!}`;
      if (!Object.hasOwn(cur, key)) continue;
      trail.push(key);
      visit((cur as Rec)[key], k + 1);
      trail.pop();
    }
  };
  visit(record, 0);
  return out;
}

/** The child container, copied into `parent` first unless the record already owns it. */
function own(parent: Rec, key: string, child: object, owned: Owned): Rec {
  if (owned === null || owned.has(child)) return child as Rec;
  const proto = Object.getPrototypeOf(child) as unknown;
  const copy = Array.isArray(child) ? child.slice() : proto === Object.prototype || proto === null ? { ...child } : structuredClone(child);
  put(parent, key, copy);
  owned.add(copy);
  return copy as Rec;
}

/** Most elements filled with null to reach an index past an array's end (a config's path, not a record's). */
const MAX_FILL = 10_000;

/** Assigns a field, or an array element: one past the end fills the elements between with null, not holes. */
function assign(container: Rec, key: string, value: unknown): void {
  if (Array.isArray(container) && ARRAY_INDEX.test(key) && Number(key) - container.length <= MAX_FILL) {
    for (let k = container.length; k < Number(key); k++) (container as unknown[])[k] = null;
  }
  put(container, key, value);
}

/** Sets a value, making missing (or non-object) containers along the way, as a plain assignment at each step. */
export function setIn(record: Rec, path: Path, value: unknown, owned: Owned): void {
  let cur = record;
  const last = path.length - 1;
  for (let i = 0; i < last; i++) {
    const part = path[i]!;
    const next = part === '__proto__' && !Object.hasOwn(cur, part) ? undefined : cur[part];
    if (next === null || typeof next !== 'object') {
      const fresh: Rec = {};
      assign(cur, part, fresh);
      owned?.add(fresh);
      cur = fresh;
    } else {
      cur = own(cur, part, next, owned);
    }
  }
  assign(cur, path[last]!, value);
}

/** Deletes a field (an array element becomes null); containers are copied only when there is something to delete. */
export function deleteIn(record: Rec, path: Path, owned: Owned): void {
  const last = path.length - 1;
  const parent = last === 0 ? record : getIn(record, path.slice(0, last));
  if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, path[last]!)) return;
  let cur = record;
  for (let i = 0; i < last; i++) cur = own(cur, path[i]!, cur[path[i]!] as object, owned);
  // An array element becomes null: the elements after it keep their indexes, and a schema sees what is sent on.
  // Another name on an array (`length`) is no element: nothing to delete.
  if (!Array.isArray(cur)) delete cur[path[last]!];
  else if (ARRAY_INDEX.test(path[last]!)) (cur as unknown[])[Number(path[last])] = null;
}

/** A copy of a record's top level without the given fields (an own `__proto__` field stays an own field). */
export function copyWithout(record: Rec, drop: ReadonlySet<string>): Rec {
  const out: Rec = {};
  for (const k of Object.keys(record)) {
    if (drop.has(k)) continue;
    put(out, k, record[k]);
  }
  return out;
}

/** Whether some path is another one, or leads into it. */
export function overlapping(paths: readonly string[]): boolean {
  for (const a of paths) for (const b of paths) if (a !== b && b.startsWith(`${a}.`)) return true;
  return new Set(paths).size !== paths.length;
}

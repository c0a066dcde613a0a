import type { TransformConfig } from '../../config/schema';
import { copyWithout, deleteIn, getIn, isNested, overlapping, setIn, splitPath, trailsOf, type Owned, type Path } from './paths';

type Rec = Record<string, unknown>;

/** A record after include, exclude and rename, and which of its containers it may change in place. */
export interface Reshaped {
  record: Rec;
  owned: Owned;
}

/**
 * Compiles include, exclude and rename (all at once, so two fields can swap names) into one function that never
 * changes its input. Top-level fields (the usual case) take one copy of the top level; nested paths are written copy
 * on write. Renames whose paths lead into each other take a whole clone, as the order they are applied in then shows.
 */
export function compileReshape(t: Pick<TransformConfig, 'include' | 'exclude' | 'rename'>): (input: Rec) => Reshaped {
  const include = t.include?.map(splitPath);
  const exclude = t.exclude ?? [];
  const rename = Object.entries(t.rename ?? {}).map(([from, to]) => ({ from: splitPath(from), to: splitPath(to) }));

  if (overlapping(Object.entries(t.rename ?? {}).flat())) {
    const excludePaths = exclude.map(splitPath);
    return (input) => {
      let record: Rec = structuredClone(input);
      if (include) record = kept(record, include, null);
      for (const p of excludePaths) excludeAll(record, p, null);
      renameAll(record, rename, null);
      return { record, owned: null };
    };
  }

  // No include and top-level excludes: one copy of the top level leaves out excluded and renamed-from fields.
  if (!include && !exclude.some(isNested)) {
    const excluded = new Set(exclude);
    const nestedFrom = rename.filter((r) => r.from.length > 1);
    const drop = new Set([...excluded, ...rename.filter((r) => r.from.length === 1).map((r) => r.from[0]!)]);
    return (input) => {
      const owned: Owned = new Set();
      const record = copyWithout(input, drop);
      const moved: [Path, unknown][] = [];
      for (const r of rename) {
        const top = r.from.length === 1 ? r.from[0]! : undefined;
        const value = top === undefined ? getIn(record, r.from) : excluded.has(top) ? undefined : input[top];
        if (value !== undefined) moved.push([r.to, value]);
      }
      for (const r of nestedFrom) deleteIn(record, r.from, owned);
      for (const [to, value] of moved) setIn(record, to, value, owned);
      return { record, owned };
    };
  }

  const excludePaths = exclude.map(splitPath);
  return (input) => {
    const owned: Owned = new Set();
    const record = include ? kept(input, include, owned) : copyWithout(input, new Set());
    for (const p of excludePaths) excludeAll(record, p, owned);
    renameAll(record, rename, owned);
    return { record, owned };
  };
}

/** Deletes a field wherever its path may name one: in each element of an array on the way, and under its dotted name. */
function excludeAll(record: Rec, path: Path, owned: Owned): void {
  for (const trail of trailsOf(record, path)) deleteIn(record, trail, owned);
}

/** The included paths of a record, in a new top level. */
function kept(record: Rec, include: readonly Path[], owned: Owned): Rec {
  const out: Rec = {};
  for (const p of include) {
    const value = getIn(record, p);
    if (value !== undefined) setIn(out, p, value, owned);
  }
  return out;
}

function renameAll(record: Rec, rename: readonly { from: Path; to: Path }[], owned: Owned): void {
  if (rename.length === 0) return;
  const moved: [Path, unknown][] = [];
  for (const { from, to } of rename) {
    const value = getIn(record, from);
    if (value !== undefined) moved.push([to, value]);
  }
  for (const { from } of rename) deleteIn(record, from, owned);
  for (const [to, value] of moved) setIn(record, to, value, owned);
}

import type { FlowConfig, SourceConfig } from '../../config/schema';
import { jsonataReads } from './jsonata-reads';
import { pathsOverlap, within } from './raw-record';

/** One way a declared PII field reaches a field of the transformed record. */
export interface TaintTrail {
  /** The declared raw field (`pii`). */
  readonly raw: string;
  /** The hops after it, e.g. `nationalId (rename)`. */
  readonly hops: readonly string[];
}

/** A field of the transformed record that holds (or is computed from) declared PII, not masked nor excluded. */
export interface TaintedField {
  readonly path: string;
  readonly trails: readonly TaintTrail[];
}

/** A tainted field reaching a target that does not allow it. */
export interface TaintLeak {
  readonly field: string;
  readonly raw: string;
  readonly targetIndex: number;
  readonly targetId: string;
  /** `national_id → nationalId (rename) → replica`. */
  readonly route: string;
}

type Taint = Map<string, TaintTrail[]>;

/** `a` is `b` or lies inside it. */

/**
 * Adds trails to a path, one per declared raw field: the shortest found. Every way a field reaches a path would grow
 * exponentially with a chain of computes that each read the whole record; one route per raw field names the leak.
 */
function add(taint: Taint, path: string, trails: readonly TaintTrail[]): void {
  const list = taint.get(path) ?? [];
  for (const t of trails) {
    const i = list.findIndex((x) => x.raw === t.raw);
    if (i < 0) list.push(t);
    else if (t.hops.length < list[i]!.hops.length) list[i] = t;
  }
  taint.set(path, list);
}

const hop = (trails: readonly TaintTrail[], label: string): TaintTrail[] => trails.map((t) => ({ raw: t.raw, hops: [...t.hops, label] }));

/** The raw fields a source can carry: a stream source's `attributes` include/exclude applies before the transform. */
function sourceTaint(pii: readonly string[], source: SourceConfig | undefined): Taint {
  const taint: Taint = new Map();
  const attributes = source?.type === 'dynamodb-stream' ? source.attributes : undefined;
  for (const raw of pii) {
    const top = raw.split('.')[0]!;
    if (attributes?.include?.length && !attributes.include.includes(top)) continue;
    if (attributes?.exclude?.includes(top)) continue;
    taint.set(raw, [{ raw, hops: [] }]);
  }
  return taint;
}

/**
 * Follows each declared PII field through the transform, in its order: include, exclude, rename, set, compute
 * (by the fields each JSONata expression reads), filter (no effect), mask. What is left is where PII rests in the
 * transformed record: in state and at every target. Each source is followed on its own (a stream source may drop
 * attributes before the transform); an invalid JSONata expression is left to the transform's own check.
 */
export function taintedFields(flow: Pick<FlowConfig, 'transform' | 'sources'> & { readonly pii?: readonly string[] }): TaintedField[] {
  const pii = flow.pii ?? [];
  if (pii.length === 0) return [];
  const out: Taint = new Map();
  const sources: (SourceConfig | undefined)[] = flow.sources.length > 0 ? flow.sources : [undefined];
  for (const source of sources) for (const [path, trails] of followTransform(flow, sourceTaint(pii, source))) add(out, path, trails);
  return [...out].map(([path, trails]) => ({ path, trails })).sort((a, b) => a.path.localeCompare(b.path));
}

function followTransform(flow: Pick<FlowConfig, 'transform'>, start: Taint): Taint {
  const t = flow.transform;
  let taint = start;
  // include: only kept paths stay; including a part of a tainted object keeps that part
  if (t.include) {
    const next: Taint = new Map();
    for (const [path, trails] of taint) {
      for (const inc of t.include) {
        if (within(path, inc)) add(next, path, trails);
        else if (within(inc, path)) add(next, inc, trails);
      }
    }
    taint = next;
  }
  // exclude
  for (const ex of t.exclude ?? []) for (const path of [...taint.keys()]) if (within(path, ex)) taint.delete(path);
  // rename, all at once
  const renames = Object.entries(t.rename ?? {});
  if (renames.length > 0) {
    const next: Taint = new Map();
    for (const [path, trails] of taint) {
      let moved = false;
      for (const [from, to] of renames) {
        if (within(path, from)) {
          const dest = to + path.slice(from.length);
          add(next, dest, hop(trails, `${dest} (rename)`));
          moved = true;
        } else if (within(from, path)) add(next, to, hop(trails, `${to} (rename)`)); // a part of a tainted object moves
      }
      if (!moved) add(next, path, trails);
    }
    taint = next;
  }
  // set: a constant overwrites what was there
  for (const path of Object.keys(t.set ?? {})) for (const p of [...taint.keys()]) if (within(p, path)) taint.delete(p);
  // compute: a field computed from a tainted field is tainted; it overwrites what was there
  for (const [field, expression] of Object.entries(t.compute ?? {})) {
    let reads;
    try {
      reads = jsonataReads(expression);
    } catch {
      continue;
    }
    const from: TaintTrail[] = [];
    for (const [path, trails] of taint) {
      if (reads.whole || [...reads.paths].some((r) => pathsOverlap(r, path))) from.push(...hop(trails, `${field} (compute${reads.whole ? ' reads the whole record' : ''})`));
    }
    for (const p of [...taint.keys()]) if (within(p, field)) taint.delete(p);
    if (from.length > 0) add(taint, field, from);
  }
  // filter drops records, not fields: no effect. mask clears what it covers.
  for (const m of Object.keys(t.mask ?? {})) for (const p of [...taint.keys()]) if (within(p, m)) taint.delete(p);
  return taint;
}

/**
 * Tainted fields that reach a target which does not list them in `allowPii` (by the field's name there or its
 * declared raw name), one per field, trail and target.
 */
export function piiLeaks(flow: Pick<FlowConfig, 'transform' | 'sources' | 'targets'> & { readonly pii?: readonly string[] }): TaintLeak[] {
  const leaks: TaintLeak[] = [];
  const fields = taintedFields(flow);
  flow.targets.forEach((target, targetIndex) => {
    const allowed = (target as { allowPii?: readonly string[] }).allowPii ?? [];
    for (const f of fields) {
      for (const trail of f.trails) {
        if (allowed.some((a) => within(f.path, a) || a === trail.raw)) continue;
        leaks.push({ field: f.path, raw: trail.raw, targetIndex, targetId: target.id, route: [trail.raw, ...trail.hops, target.id].join(' → ') });
      }
    }
  });
  return leaks;
}

/** Key fields that carry a declared field unmasked: the key names its record in audit, lineage, logs and state keys. */
export function piiKeyFields(flow: Pick<FlowConfig, 'transform' | 'sources' | 'key'> & { readonly pii?: readonly string[] }): { key: string; raw: string }[] {
  const out: { key: string; raw: string }[] = [];
  for (const f of taintedFields(flow)) {
    for (const key of flow.key) {
      if (!pathsOverlap(key, f.path)) continue;
      for (const raw of new Set(f.trails.map((t) => t.raw))) out.push({ key, raw });
    }
  }
  return out;
}

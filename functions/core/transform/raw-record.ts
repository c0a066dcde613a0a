import type { FlowConfig } from '../../config/schema';
import { keyOf } from '../envelope';
import { storableCopy } from '../json-safety';
import { findPii, REDACTED } from './mask';
import { trailsOf } from './paths';

/** True when the transform cannot change the key fields, so the raw record's key is the record's key. */
export function keyUntouchedByTransform(flow: FlowConfig): boolean {
  const paths = rawKeyPaths(flow);
  return paths !== undefined && paths.every((p, i) => p === flow.key[i]);
}

/** Whether the transform's include/exclude (its first steps) keep a raw field. */
function keptByIncludeExclude(flow: FlowConfig, path: string): boolean {
  const { include, exclude } = flow.transform;
  const covers = (list: readonly string[]) => list.some((p) => within(path, p));
  return !covers(exclude ?? []) && (!include || covers(include));
}

/** Whether a dotted path is `outer` itself or lies inside it. */
export const within = (path: string, outer: string): boolean => path === outer || path.startsWith(`${outer}.`);

/** Whether two dotted paths are one, or one holds the other. */
export const pathsOverlap = (a: string, b: string): boolean => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

/** Whether a rename to `to` fills the field `path`: the field itself, or one inside the object it moves. */
export const renameFills = (to: string, path: string): boolean => within(path, to);

/** Where the rename that fills `path` takes it from (at most one does: lib/config/deep-validate.ts), or undefined. */
export function renamedFrom(rename: Readonly<Record<string, string>> | undefined, path: string): string | undefined {
  const into = Object.entries(rename ?? {}).find(([, to]) => renameFills(to, path));
  return into ? into[0] + path.slice(into[1].length) : undefined;
}

/**
 * Where each key field sits in the record before the transform: the field itself, or the field a rename moves into
 * it. Undefined when the transform may make or change a key value (set, compute, mask, detectPii: "mask"), so no raw
 * field holds it, or when include/exclude drop the raw field. Lets a record quarantined at capture carry its key.
 */
export function rawKeyPaths(flow: FlowConfig): readonly string[] | undefined {
  const t = flow.transform;
  if (t.detectPii === 'mask') return undefined;
  const made = [...Object.keys(t.set ?? {}), ...Object.keys(t.compute ?? {}), ...Object.keys(t.mask ?? {})];
  const renames = Object.entries(t.rename ?? {});
  const paths: string[] = [];
  for (const k of flow.key) {
    if (made.some((p) => pathsOverlap(p, k))) return undefined;
    const raw = renamedFrom(t.rename, k);
    if (raw !== undefined) paths.push(raw);
    else if (renames.some(([from, to]) => pathsOverlap(from, k) || to.startsWith(`${k}.`))) return undefined;
    else paths.push(k);
  }
  // include/exclude run first: a raw field they drop never becomes the key.
  return paths.every((p) => keptByIncludeExclude(flow, p)) ? paths : undefined;
}

/** The key of a record as the capture sees it (before the transform), or '' when it cannot be told. */
export function rawKeyReader(flow: FlowConfig): (record: Record<string, unknown> | undefined) => string {
  const paths = rawKeyPaths(flow);
  return (record) => (paths && record ? (keyOf(record, paths) ?? '') : '');
}

/** What a capture can tell of a record's key before the transform runs. */
export interface CaptureKeys {
  /** The transform leaves the key fields alone: the capture reads the key, and refuses a record without one. */
  readonly readsKey: boolean;
  /** The record's key when the capture reads it ('' when the record lacks one, or when the transform makes the key). */
  readonly keyOf: (record: Record<string, unknown> | undefined) => string;
  /** The key a record refused at capture is audited under, read through renames ('' when no raw field holds it). */
  readonly auditKeyOf: (record: Record<string, unknown> | undefined) => string;
  /** Where the key fields sit before the transform (the key fields when that cannot be told): what a delete keeps exact. */
  readonly paths: readonly string[];
}

const captureKeysByFlow = new WeakMap<FlowConfig, CaptureKeys>();

/** The flow's CaptureKeys, worked out once per flow. */
export function captureKeys(flow: FlowConfig): CaptureKeys {
  let keys = captureKeysByFlow.get(flow);
  if (!keys) {
    const readsKey = keyUntouchedByTransform(flow);
    const auditKeyOf = rawKeyReader(flow);
    keys = { readsKey, keyOf: readsKey ? auditKeyOf : () => '', auditKeyOf, paths: rawKeyPaths(flow) ?? flow.key };
    captureKeysByFlow.set(flow, keys);
  }
  return keys;
}

/**
 * A record quarantined before the transform ran, as the quarantine stores it: a storable copy (storableCopy) where
 * fields the flow masks (by either name of a rename), declared `pii` fields and anything that looks like PII are
 * redacted, since the per-deployment hash key is not at hand here.
 */
export function maskForQuarantine(flow: FlowConfig, record: Record<string, unknown>): Record<string, unknown> {
  const copy = storableCopy(record);
  const masked = new Set(Object.keys(flow.transform.mask ?? {}));
  for (const [from, to] of Object.entries(flow.transform.rename ?? {})) if (masked.has(to)) masked.add(from);
  // At any depth too: a raw event (Debezium's payload.after and before, a wrapper) holds the record further down.
  for (const path of masked) redactPathAnywhere(copy, path.split('.'), 0);
  // Declared PII by name at any depth: a raw event (Debezium's payload.after, a wrapper) holds the record further down.
  const names = new Set((flow.pii ?? []).map((p) => p.split('.')[0]!));
  if (names.size > 0) redactNamed(copy, names, 0);
  for (const { trail } of findPii(copy)) redactParts(copy, trail);
  return copy;
}

function redactNamed(value: unknown, names: ReadonlySet<string>, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 32) return;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (names.has(k) && v !== null && v !== undefined) (value as Record<string, unknown>)[k] = REDACTED;
    else redactNamed(v, names, depth + 1);
  }
}

/** Redacts `parts` from every object of `value` (itself included) that holds its first segment. */
function redactPathAnywhere(value: unknown, parts: readonly string[], depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 32) return;
  // Through arrays and under a dotted name too, as the transform's masks reach them (paths.ts trailsOf).
  if (!Array.isArray(value)) for (const trail of trailsOf(value, parts)) redactParts(value as Record<string, unknown>, trail);
  for (const v of Object.values(value as Record<string, unknown>)) redactPathAnywhere(v, parts, depth + 1);
}

function redactParts(record: Record<string, unknown>, parts: readonly string[]): void {
  let cur: unknown = record;
  for (const part of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return;
    cur = (cur as Record<string, unknown>)[part];
  }
  const last = parts[parts.length - 1]!;
  if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, last)) (cur as Record<string, unknown>)[last] = REDACTED;
}

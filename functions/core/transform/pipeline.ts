import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import jsonata from 'jsonata';
import type { FlowConfig, MaskKind, TransformConfig } from '../../config/schema';
import { getPath, keyOf, keyProblem } from '../envelope';
import { carryProblems, storableCopy } from '../json-safety';
import { compilePattern, validatePattern } from '../event-pattern';
import { detectPii, maskValue, REDACTED } from './mask';

import { taintedFields } from './pii-taint';
import { messageOf } from '../errors';

export { piiLeaks, taintedFields, type TaintedField, type TaintLeak } from './pii-taint';

/** What the transform needs besides the flow config. */
export interface TransformContext {
  /** Per-deployment secret key for `hash` masking. */
  readonly hashKey: string;
}

export type TransformResult =
  | { status: 'passed'; key: string; record: Record<string, unknown>; piiFlagged?: string[] }
  | { status: 'filtered'; key?: string; pattern: Record<string, unknown> }
  | { status: 'quarantined'; key?: string; reason: string; errors: string[]; original: Record<string, unknown> };

/** A flow's transform, compiled once and applied to each record. */
export interface Transformer {
  apply(record: Record<string, unknown>, op: 'upsert' | 'delete'): Promise<TransformResult>;
}

type Rec = Record<string, unknown>;

/** Max nesting of JSONata evaluation; deep non-tail recursion fails fast instead of exhausting memory. */
const JSONATA_MAX_DEPTH = 1000;

/**
 * Compiles a flow's transform: include, exclude, rename, set, compute, filter, mask (+ PII detection), schema, key.
 * Throws when the transform config is invalid (run `validateTransform` at synth time to report it earlier).
 */
export function compileTransform(flow: Pick<FlowConfig, 'key' | 'transform'> & Partial<Pick<FlowConfig, 'pii' | 'sources'>>, ctx: TransformContext): Transformer {
  const t: TransformConfig = flow.transform;
  const problems = validateTransform(flow);
  if (problems.length > 0) throw new Error(`invalid transform: ${problems.join('; ')}`);

  const include = t.include;
  const exclude = t.exclude ?? [];
  const rename = Object.entries(t.rename ?? {});
  const set = Object.entries(t.set ?? {});
  const compute = Object.entries(t.compute ?? {}).map(([field, source]) => ({
    field,
    source,
    expr: jsonata(source, { timeout: t.computeTimeoutMs, stack: JSONATA_MAX_DEPTH }),
  }));
  const filter = t.filter;
  const matchesFilter = filter ? compilePattern(filter) : undefined;
  const mask = Object.entries(t.mask ?? {}) as [string, MaskKind][];
  const maskedPaths = new Set(mask.map(([p]) => p));
  const detect = t.detectPii;
  const validate = t.schema ? compileSchema(t.schema) : undefined;

  // Input-side names of masked fields: a field renamed to a masked name is PII under its old name too.
  const originalMask: [string, MaskKind][] = [...mask];
  for (const [path, kind] of mask) {
    for (const [from, to] of rename) {
      if (path === to) originalMask.push([from, kind]);
      else if (path.startsWith(`${to}.`)) originalMask.push([from + path.slice(to.length), kind]);
    }
  }

  // Declared PII that no mask covers (a target may allow it): redacted in quarantine and in error texts all the same.
  for (const raw of flow.pii ?? []) if (!originalMask.some(([p]) => p === raw)) originalMask.push([raw, 'redact']);
  const taintedPaths = taintedFields({ transform: t, sources: flow.sources ?? [], pii: flow.pii ?? [] }).map((f) => f.path);

  const applyMask = (record: Rec): string[] | undefined => {
    for (const [path, kind] of mask) {
      if (hasPath(record, path)) setPath(record, path, maskValue(kind, getPath(record, path), ctx.hashKey));
    }
    if (detect === 'off') return undefined;
    const found = detectPii(record, maskedPaths);
    if (detect === 'mask') for (const p of found) setPath(record, p, REDACTED);
    return found.length > 0 ? found : undefined;
  };

  /** The input as it may be stored in quarantine: masked, never raw PII. */
  const maskOriginal = (input: Rec): Rec => {
    const copy = structuredClone(input);
    for (const [path, kind] of originalMask) {
      if (hasPath(copy, path)) setPath(copy, path, maskValue(kind, getPath(copy, path), ctx.hashKey));
    }
    if (detect === 'mask') for (const p of detectPii(copy, new Set(originalMask.map(([p]) => p)))) setPath(copy, p, REDACTED);
    return copy;
  };

  /** Raw values of masked fields, so error texts can be scrubbed of them. */
  const secretsOf = (input: Rec, current: Rec): string[] => {
    const out = new Set<string>();
    for (const [path] of originalMask) for (const r of [input, current]) collectStrings(getPath(r, path), out);
    for (const path of taintedPaths) collectStrings(getPath(current, path), out);
    return [...out].filter((s) => s.length >= 3);
  };

  const quarantine = (input: Rec, current: Rec, key: string | undefined, reason: string, errors: string[]): TransformResult => {
    const secrets = secretsOf(input, current);
    return {
      status: 'quarantined',
      key,
      reason: scrub(reason, secrets),
      errors: errors.map((e) => scrub(e, secrets)),
      original: storableCopy(maskOriginal(input)),
    };
  };

  return {
    async apply(input, op) {
      let record: Rec = structuredClone(input);

      // 1 include
      if (include) {
        const kept: Rec = {};
        for (const path of include) if (hasPath(record, path)) setPath(kept, path, getPath(record, path));
        record = kept;
      }
      // 2 exclude
      for (const path of exclude) deletePath(record, path);
      // 3 rename, all at once so swaps work
      if (rename.length > 0) {
        const moved: [string, unknown][] = [];
        for (const [from, to] of rename) if (hasPath(record, from)) moved.push([to, getPath(record, from)]);
        for (const [from] of rename) deletePath(record, from);
        for (const [to, value] of moved) setPath(record, to, value);
      }
      // 4 set
      for (const [path, value] of set) setPath(record, path, structuredClone(value));
      // 5 compute, each expression sees the fields computed before it
      for (const c of compute) {
        let value: unknown;
        try {
          value = toJson(await c.expr.evaluate(record));
        } catch (err) {
          const detail = describeJsonataError(err);
          return quarantine(input, record, safeKey(record, flow.key, mask, ctx.hashKey), `compute "${c.field}" failed (expression ${JSON.stringify(c.source)}): ${detail}`, [detail]);
        }
        if (value === undefined) deletePath(record, c.field);
        else setPath(record, c.field, value);
      }
      // 6 filter
      if (filter && !matchesFilter!(record)) {
        return { status: 'filtered', key: safeKey(record, flow.key, mask, ctx.hashKey), pattern: filter };
      }
      // 7 mask, then PII detection
      const piiFlagged = applyMask(record);
      // 8 schema (deletes only need their key)
      if (op === 'upsert' && validate && !validate(record)) {
        return quarantine(input, record, keyOf(record, flow.key), 'schema validation failed', formatAjvErrors(validate.errors ?? []));
      }
      // key
      const key = keyOf(record, flow.key);
      if (key === undefined) {
        const field = flow.key.find((f) => keyOf(record, [f]) === undefined) ?? flow.key[0];
        const v = getPath(record, field);
        const reason = v === undefined || v === null || v === '' ? `missing key field "${field}"` : `key field "${field}" must be a string, number or boolean`;
        return quarantine(input, record, undefined, reason, [reason]);
      }
      const tooLong = keyProblem(key);
      if (tooLong) return quarantine(input, record, undefined, tooLong, [tooLong]);
      const unstorable = op === 'upsert' ? carryProblems(record) : [];
      if (unstorable.length > 0) return quarantine(input, record, key, `record cannot be carried exactly: ${unstorable[0]}`, unstorable);
      return piiFlagged ? { status: 'passed', key, record, piiFlagged } : { status: 'passed', key, record };
    },
  };
}

/**
 * Checks a flow's transform without running it: JSONata syntax, event pattern, JSON Schema.
 * Each message starts with its JSON path, e.g. `transform.compute.fullName: ...`.
 */
export function validateTransform(flow: { transform: TransformConfig }): string[] {
  const t = flow.transform;
  const problems: string[] = [];
  for (const [field, source] of Object.entries(t.compute ?? {})) {
    try {
      jsonata(source);
    } catch (err) {
      problems.push(`transform.compute.${field}: invalid JSONata expression ${JSON.stringify(source)}: ${describeJsonataError(err, true)}`);
    }
  }
  if (t.filter) {
    for (const p of validatePattern(t.filter)) {
      const m = /^([^:]+): (.*)$/s.exec(p);
      problems.push(m ? `transform.filter.${m[1]}: ${m[2]}` : `transform.filter: ${p}`);
    }
  }
  if (t.schema) {
    try {
      compileSchema(t.schema);
    } catch (err) {
      problems.push(`transform.schema: invalid JSON Schema: ${messageOf(err)}`);
    }
  }
  const renamedTo = new Map<string, string>();
  for (const [from, to] of Object.entries(t.rename ?? {})) {
    const other = renamedTo.get(to);
    if (other !== undefined) problems.push(`transform.rename.${from}: renames to "${to}" like "${other}" does`);
    renamedTo.set(to, from);
  }
  return problems;
}

// ---------- JSON Schema ----------

function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const draft = typeof schema.$schema === 'string' ? schema.$schema : '';
  const options = { allErrors: true, strict: false } as const;
  const ajv = draft.includes('2020-12') ? new Ajv2020(options) : draft.includes('2019-09') ? new Ajv2019(options) : new Ajv(options);
  addFormats(ajv);
  return ajv.compile(schema);
}

/** Readable ajv errors. Built from paths and schema params only: never from the data, which may hold PII. */
function formatAjvErrors(errors: readonly ErrorObject[]): string[] {
  return errors.map((e) => {
    const at = e.instancePath || '/';
    let message = e.message ?? `must pass "${e.keyword}"`;
    if (e.keyword === 'additionalProperties') message += ` ("${String(e.params.additionalProperty)}")`;
    if (e.keyword === 'unevaluatedProperties') message += ` ("${String(e.params.unevaluatedProperty)}")`;
    return `${at} ${message}`;
  });
}

// ---------- JSONata ----------

interface JsonataErrorLike {
  code?: string;
  message?: string;
  value?: unknown;
  position?: number;
  token?: string;
}

function describeJsonataError(err: unknown, syntax = false): string {
  const e = (err ?? {}) as JsonataErrorLike;
  if (e.code === 'D1012') return `timed out after ${String(e.value)} ms`;
  if (e.code === 'D1011') return 'exceeded the maximum evaluation depth (non-terminating recursion?)';
  let message = e.message ?? String(err);
  // Runtime messages can quote the offending data value; keep it out of audit and quarantine.
  if (!syntax && e.value !== undefined && e.value !== null) {
    for (const form of [JSON.stringify(e.value), String(e.value)]) {
      if (form && form.length > 0) message = message.split(form).join('<value>');
    }
  }
  const where = typeof e.position === 'number' ? ` at position ${e.position}` : '';
  return `${e.code ? `${e.code}: ` : ''}${message}${where}`;
}

/** JSONata results can be sequences or hold functions; keep plain JSON only. */
function toJson(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === 'function') throw { code: 'T0001', message: 'the expression returned a function, not a value' };
  return JSON.parse(JSON.stringify(value)) as unknown;
}

// ---------- paths and helpers ----------

function hasPath(record: unknown, path: string): boolean {
  return getPath(record, path) !== undefined;
}

function setPath(record: Rec, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Rec = record;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== 'object') cur[part] = {};
    cur = cur[part] as Rec;
  }
  cur[parts[parts.length - 1]] = value;
}

function deletePath(record: Rec, path: string): void {
  const parts = path.split('.');
  let cur: unknown = record;
  for (const part of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Rec)[part];
  }
  if (cur !== null && typeof cur === 'object') delete (cur as Rec)[parts[parts.length - 1]];
}

function collectStrings(value: unknown, out: Set<string>): void {
  if (value === undefined || value === null) return;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out.add(String(value));
  else if (typeof value === 'object') for (const v of Object.values(value)) collectStrings(v, out);
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join(REDACTED);
  return out;
}

/** The key when it can be derived, with masking applied as the passed record would have it. */
function safeKey(record: Rec, fields: readonly string[], mask: readonly [string, MaskKind][], hashKey: string): string | undefined {
  if (!fields.some((f) => mask.some(([p]) => p === f || f.startsWith(`${p}.`)))) return keyOf(record, fields);
  const copy = structuredClone(record);
  for (const [path, kind] of mask) if (hasPath(copy, path)) setPath(copy, path, maskValue(kind, getPath(copy, path), hashKey));
  return keyOf(copy, fields);
}

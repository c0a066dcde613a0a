import type { ErrorObject } from 'ajv';
import jsonata from 'jsonata';
import type { FlowConfig, MaskKind, TransformConfig } from '../../config/schema';
import { getPath, keyJoinProblem, keyOf, keyProblem, reservedKeyProblem } from '../envelope';
import { carryProblems, storableCopy } from '../json-safety';
import { collectValueTexts, scrubbable, scrubbed } from '../scrub';
import { compilePattern } from '../event-pattern';
import { compileDirect, FALLBACK } from './jsonata-direct';
import { jsonataReads, literalErrorMessages } from './jsonata-reads';
import { findPii, maskValue, REDACTED, type PiiFinding } from './mask';
import { deleteIn, getIn, setIn, splitPath, trailsOf, type Owned, type Path } from './paths';
import { taintedFields } from './pii-taint';
import { pathsOverlap, renamedFrom } from './raw-record';
import { compileReshape } from './reshape';

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

/** The flow fields a transform reads. */
export type TransformedFlow = Pick<FlowConfig, 'id' | 'key' | 'transform'> & Partial<Pick<FlowConfig, 'pii' | 'sources' | 'conflict'>>;

/** A compiled JSON Schema (an ajv validate function, compiled here or at synth): `errors` describe the last failure. */
/** Builds a flow's transformer: `compileTransform` compiles its JSON Schema; a Lambda uses the one compiled at synth. */
export type CompileTransform = (flow: TransformedFlow, ctx: TransformContext) => Transformer;

export type SchemaValidator = ((data: unknown) => boolean) & { errors?: readonly ErrorObject[] | null };

/**
 * Builds a flow's transform: include, exclude, rename, set, compute, filter, mask (+ PII detection), schema, key.
 * `validate` checks records against the transform's JSON Schema; this module holds no JSON Schema compiler, so a
 * function whose schema was compiled at synth bundles none (see `compileTransform` for one compiled here).
 */
export function buildTransform(flow: TransformedFlow, ctx: TransformContext, validate?: SchemaValidator): Transformer {
  const t: TransformConfig = flow.transform;
  if (t.schema && !validate) throw new Error('the transform has a JSON Schema but no validator was given');

  const rename = Object.entries(t.rename ?? {});
  const reshape = compileReshape(t);
  const set = Object.entries(t.set ?? {}).map(([path, value]) => ({ path: splitPath(path), value }));
  // Under a per-field merge an upsert changes only the fields it carries; a compute that reads none of them would
  // overwrite the stored value with one computed from nothing, so it is left out and the stored value stays.
  const perField = flow.conflict !== undefined && flow.conflict.strategy !== 'lww';
  const compute = Object.entries(t.compute ?? {}).map(([field, source]) => {
    const expr = jsonata(source, { timeout: t.computeTimeoutMs, stack: JSONATA_MAX_DEPTH });
    const reads = perField ? jsonataReads(source) : undefined;
    // The merge goes by top-level field, so a read of `address.city` asks whether the record carries `address`.
    const inputs = reads && !reads.whole && reads.paths.size > 0 ? [...new Set([...reads.paths].map((p) => splitPath(p)[0]!))] : undefined;
    return { field, path: splitPath(field), source, expr, direct: compileDirect(expr, JSONATA_MAX_DEPTH), inputs, literals: literalErrorMessages(expr.ast()) };
  });
  const filter = t.filter;
  const matchesFilter = filter ? compilePattern(filter) : undefined;
  const mask = Object.entries(t.mask ?? {}) as [string, MaskKind][];
  const maskSteps = mask.map(([path, kind]) => ({ path: splitPath(path), kind }));
  const maskedPaths = new Set(mask.map(([p]) => p));
  const detect = t.detectPii;
  // A key field that is masked (or lies within a masked field) is read from a masked copy before the mask step.
  const keyMasked = flow.key.some((f) => mask.some(([p]) => p === f || f.startsWith(`${p}.`)));

  // Input-side names of masked fields: a field renamed to a masked name is PII under its old name too.
  const renamedFromMask: [string, MaskKind][] = [];
  for (const [path, kind] of mask) {
    for (const [from, to] of rename) {
      if (path === to) renamedFromMask.push([from, kind]);
      else if (path.startsWith(`${to}.`)) renamedFromMask.push([from + path.slice(to.length), kind]);
    }
  }
  const originalMask: [string, MaskKind][] = [...mask, ...renamedFromMask];

  // A rename moves a field by its dotted path only: one it could not move (through an array, or a field named with
  // the dots) stays under its old name, so the mask of its new name applies there too, unless a later step writes it.
  const written = [...rename.map(([, to]) => to), ...Object.keys(t.set ?? {}), ...Object.keys(t.compute ?? {})];
  const unmovedMaskSteps = renamedFromMask
    .filter(([from]) => !written.some((w) => pathsOverlap(w, from)))
    .map(([path, kind]) => ({ path: splitPath(path), kind }));

  // Declared PII that no mask covers (a target may allow it): redacted in quarantine and in error texts all the same.
  for (const raw of flow.pii ?? []) if (!originalMask.some(([p]) => p === raw)) originalMask.push([raw, 'redact']);
  const taintedPaths = taintedFields({ transform: t, sources: flow.sources ?? [], pii: flow.pii ?? [] }).map((f) => f.path);

  // A key field that looks like PII is hashed, not redacted: redacted, every such record would get one key.
  const keyFields = new Set(flow.key);
  const rawKeyFields = new Set(flow.key.map((k) => renamedFrom(t.rename, k) ?? k));
  // A key field holding a number is never taken for a card number: hashed, it would give records that a flow already
  // holds under their numeric key another key (a declared `hash` mask still applies).
  const piiPaths = (record: Rec, skip: ReadonlySet<string>, keys: ReadonlySet<string>): PiiFinding[] =>
    findPii(record, skip).filter((f) => !(keys.has(f.path) && typeof getIn(record, f.trail) === 'number'));
  // By the keys that lead to each value, not its dotted path: a field named `a.b` is masked where it is.
  const maskFound = (record: Rec, found: readonly PiiFinding[], keys: ReadonlySet<string>, owned: Owned) => {
    for (const f of found) setIn(record, f.trail, keys.has(f.path) ? maskValue('hash', getIn(record, f.trail), ctx.hashKey) : REDACTED, owned);
  };
  // Wherever the path may name a value: in each element of an array on the way, and in a field named with its dots.
  const maskAt = (record: Rec, path: Path, kind: MaskKind, owned: Owned) => {
    // A top-level field can be named one way only (the hot path: no search, no trail arrays).
    if (path.length === 1) {
      const value = getIn(record, path);
      if (value !== undefined) setIn(record, path, maskValue(kind, value, ctx.hashKey), owned);
      return;
    }
    for (const trail of trailsOf(record, path)) setIn(record, trail, maskValue(kind, getIn(record, trail), ctx.hashKey), owned);
  };
  const applyMask = (record: Rec, owned: Owned): string[] | undefined => {
    for (const { path, kind } of maskSteps) maskAt(record, path, kind, owned);
    for (const { path, kind } of unmovedMaskSteps) maskAt(record, path, kind, owned);
    if (detect === 'off') return undefined;
    const found = piiPaths(record, maskedPaths, keyFields);
    if (detect === 'mask') maskFound(record, found, keyFields, owned);
    return found.length > 0 ? found.map((f) => f.path) : undefined;
  };

  /** The key when it can be derived, with masking (and PII detection) applied as the passed record would have it. */
  const safeKey = (record: Rec): string | undefined => {
    if (!keyMasked && detect !== 'mask') return keyOf(record, flow.key);
    const copy = structuredClone(record);
    applyMask(copy, null);
    return keyOf(copy, flow.key);
  };

  /** The input as it may be stored in quarantine: masked, never raw PII. */
  const maskOriginal = (input: Rec): Rec => {
    const copy = structuredClone(input);
    for (const [path, kind] of originalMask) maskAt(copy, splitPath(path), kind, null);
    // Key fields by their input names: a replayed copy keeps its own key.
    if (detect === 'mask') maskFound(copy, piiPaths(copy, new Set(originalMask.map(([p]) => p)), rawKeyFields), rawKeyFields, null);
    return copy;
  };

  /** Raw values of masked fields, so error texts can be scrubbed of them. */
  const secretsOf = (input: Rec, current: Rec): string[] => {
    const out = new Set<string>();
    for (const [path] of originalMask) for (const r of [input, current]) for (const trail of trailsOf(r, splitPath(path))) collectValueTexts(getIn(r, trail), out);
    for (const path of taintedPaths) for (const trail of trailsOf(current, splitPath(path))) collectValueTexts(getIn(current, trail), out);
    return scrubbable(out);
  };

  const quarantine = (input: Rec, current: Rec, key: string | undefined, reason: string, errors: string[]): TransformResult => {
    const secrets = secretsOf(input, current);
    return {
      status: 'quarantined',
      key,
      reason: scrubbed(reason, secrets),
      errors: errors.map((e) => scrubbed(e, secrets)),
      original: storableCopy(maskOriginal(input)),
    };
  };

  return {
    async apply(input, op) {
      // 1-3 include, exclude, rename: the input is never changed, and only what changes is copied
      const { record, owned } = reshape(input);
      // 4 set
      for (const { path, value } of set) setIn(record, path, value !== null && typeof value === 'object' ? structuredClone(value) : value, owned);
      // 5 compute, each expression sees the fields computed before it
      for (const c of compute) {
        if (c.inputs && c.inputs.every((f) => record[f] === undefined)) continue;
        let value: unknown;
        try {
          value = c.direct ? c.direct(record) : FALLBACK;
          value = toJson(value === FALLBACK ? await c.expr.evaluate(record) : value);
        } catch (err) {
          const detail = describeJsonataError(err, false, c.literals);
          return quarantine(input, record, safeKey(record), `compute "${c.field}" failed (expression ${JSON.stringify(c.source)}): ${detail}`, [detail]);
        }
        if (value === undefined) deleteIn(record, c.path, owned);
        else setIn(record, c.path, value, owned);
      }
      // 6 filter
      if (filter && !matchesFilter!(record)) {
        return { status: 'filtered', key: safeKey(record), pattern: filter };
      }
      // 7 mask, then PII detection
      const piiFlagged = applyMask(record, owned);
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
      const badKey = keyProblem(key, flow.id) ?? reservedKeyProblem(key) ?? keyJoinProblem(key, record, flow.key);
      if (badKey) return quarantine(input, record, undefined, badKey, [badKey]);
      const unstorable = op === 'upsert' ? carryProblems(record) : [];
      if (unstorable.length > 0) return quarantine(input, record, key, `record cannot be carried exactly: ${unstorable[0]}`, unstorable);
      return piiFlagged ? { status: 'passed', key, record, piiFlagged } : { status: 'passed', key, record };
    },
  };
}

// ---------- JSON Schema errors ----------

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
  /** The other operand of a binary operator (T2007, T2009). */
  value2?: unknown;
  position?: number;
  token?: string;
}

/** How an error message may quote a value; an object without a prototype has no String form. */
function textForms(value: unknown): string[] {
  const out = [JSON.stringify(value)];
  try {
    out.push(String(value));
  } catch {
    // nothing more to scrub
  }
  return out;
}

/** What `$error()` and `$assert(false)` say without a message of their own. */
const JSONATA_DEFAULT_MESSAGES = new Set(['$error() function evaluated', '$assert() statement failed']);

export function describeJsonataError(err: unknown, syntax = false, literals?: ReadonlySet<string>): string {
  const e = (err ?? {}) as JsonataErrorLike;
  if (e.code === 'D1012') return `timed out after ${String(e.value)} ms`;
  if (e.code === 'D1011') return 'exceeded the maximum evaluation depth (non-terminating recursion?)';
  let message = e.message ?? String(err);
  // `$error` and `$assert` messages are the expression's own: one built from record values may hold a changed form
  // of a masked one (`$uppercase(email)`), which no scrub of raw values catches. Only a literal of the expression is kept.
  if (literals !== undefined && (e.code === 'D3137' || e.code === 'D3141') && !literals.has(message) && !JSONATA_DEFAULT_MESSAGES.has(message)) message = 'message left out: it is not a literal of the expression, so it may hold record values';
  // Runtime messages can quote the offending data values (both operands of a binary operator); keep them out of
  // audit and quarantine.
  for (const value of syntax ? [] : [e.value, e.value2]) {
    if (value === undefined || value === null) continue;
    for (const form of textForms(value)) {
      if (!form) continue;
      // A form of one or two characters (`42`, `e`) only where it stands alone, not inside the words around it.
      message = form.length >= 3 ? message.split(form).join('<value>') : message.replace(new RegExp(`(?<![\\w.])${form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.])`, 'g'), '<value>');
    }
  }
  const where = typeof e.position === 'number' ? ` at position ${e.position}` : '';
  return `${e.code ? `${e.code}: ` : ''}${message}${where}`;
}

/** JSONata results can be sequences or hold functions; keep plain JSON only. */
function toJson(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === 'function') throw { code: 'T0001', message: 'the expression returned a function, not a value' };
  // Strings, booleans and ordinary numbers come back from JSON as they are.
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) return value;
  // JSON would write Infinity and NaN (a division by zero) as null, and the record would pass with it.
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) throw { code: 'D1001', message: 'the expression gave a number that is not finite (a division by zero?)' };
      return v;
    }),
  ) as unknown;
}

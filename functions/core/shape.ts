/*
 * Small validators for what the functions receive at run time (queue messages, invocation payloads, admin bodies,
 * cursors). The flows config keeps its zod schema, checked at synth; the functions do not bundle zod. Messages and
 * the order of checks follow zod 4's, so an answer reads the same wherever it is checked.
 */

/** A problem found in a value: where it is and what is wrong, never the value itself. */
export interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** A wrong type or value: checks of an enclosing shape (refine, map) are skipped, as zod skips them. */
  abort: boolean;
}

export interface Shape<T> {
  /** Checks `value` found at `path`, pushing issues; the answer is meaningful only when none was pushed. */
  readonly check: (value: unknown, path: readonly PropertyKey[], issues: Issue[]) => T;
  /** The key may be absent from an object's output (typing only: every shape is given undefined for a missing key). */
  readonly optional?: true;
}

export type Infer<S> = S extends Shape<infer T> ? T : never;

type Fields = Record<string, Shape<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends { readonly optional: true } ? K : never }[keyof F];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<F extends Fields> = Simplify<{ [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }>;

export type ParseResult<T> = { success: true; data: T } | { success: false; issues: Issue[] };

export function safeParse<T>(shape: Shape<T>, value: unknown): ParseResult<T> {
  const issues: Issue[] = [];
  const data = shape.check(value, [], issues);
  return issues.length === 0 ? { success: true, data } : { success: false, issues };
}

/** `a.b.0: message` for each issue; `root` names an issue of the value itself. */
export function issueLines(issues: readonly Issue[], root = '(root)'): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : root}: ${i.message}`);
}

function received(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v;
}

const typeIssue = (expected: string, v: unknown, path: readonly PropertyKey[]): Issue => ({ path, message: `Invalid input: expected ${expected}, received ${received(v)}`, abort: true });
const at = (path: readonly PropertyKey[], key: PropertyKey) => [...path, key];

export interface StringRules {
  readonly trim?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: RegExp;
  /** Replaces zod's `must match pattern` message. */
  readonly patternMessage?: string;
}

export function string(rules: StringRules = {}): Shape<string> {
  return {
    check(v, path, issues) {
      if (typeof v !== 'string') {
        issues.push(typeIssue('string', v, path));
        return '';
      }
      const s = rules.trim ? v.trim() : v;
      if (rules.min !== undefined && s.length < rules.min) issues.push({ path, message: `Too small: expected string to have >=${rules.min} characters`, abort: false });
      if (rules.max !== undefined && s.length > rules.max) issues.push({ path, message: `Too big: expected string to have <=${rules.max} characters`, abort: false });
      if (rules.pattern && !rules.pattern.test(s)) issues.push({ path, message: rules.patternMessage ?? `Invalid string: must match pattern ${rules.pattern}`, abort: false });
      return s;
    },
  };
}

const DATE = String.raw`(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))`;
const ISO_DATETIME = new RegExp(String.raw`^${DATE}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$`);
const BASE64 = /^$|^(?:[0-9a-zA-Z+/]{4})*(?:(?:[0-9a-zA-Z+/]{2}==)|(?:[0-9a-zA-Z+/]{3}=))?$/;

/** Whether text starts with a date the calendar has (`2026-02-30` does not; Date.parse rolls it over to March). */
export const startsWithCalendarDate = (text: string): boolean => new RegExp(`^${DATE}`).test(text);

/** An RFC 3339 date-time with seconds and `Z` or an offset (zod's `z.iso.datetime({ offset: true })`). */
export const isoDateTime = (): Shape<string> => string({ pattern: ISO_DATETIME, patternMessage: 'Invalid ISO datetime' });
/** Standard, padded base64 (zod's `z.base64()`). */
export const base64 = (): Shape<string> => string({ pattern: BASE64, patternMessage: 'Invalid base64-encoded string' });

export interface NumberRules {
  readonly int?: boolean;
  readonly min?: number;
  /** Exclusive lower bound: `gt: 0` is zod's `positive()`. */
  readonly gt?: number;
  readonly max?: number;
}

/** A finite number (zod 4 refuses NaN and infinities). */
export function number(rules: NumberRules = {}): Shape<number> {
  return {
    check(v, path, issues) {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        issues.push(typeIssue('number', v, path));
        return 0;
      }
      if (rules.int && !Number.isInteger(v)) {
        issues.push({ path, message: 'Invalid input: expected int, received number', abort: true });
        return v;
      }
      if (rules.int && v > Number.MAX_SAFE_INTEGER) issues.push({ path, message: `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`, abort: false });
      if (rules.int && v < Number.MIN_SAFE_INTEGER) issues.push({ path, message: `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`, abort: false });
      if (rules.min !== undefined && v < rules.min) issues.push({ path, message: `Too small: expected number to be >=${rules.min}`, abort: false });
      if (rules.gt !== undefined && v <= rules.gt) issues.push({ path, message: `Too small: expected number to be >${rules.gt}`, abort: false });
      if (rules.max !== undefined && v > rules.max) issues.push({ path, message: `Too big: expected number to be <=${rules.max}`, abort: false });
      return v;
    },
  };
}

export function boolean(): Shape<boolean> {
  return {
    check(v, path, issues) {
      if (typeof v !== 'boolean') issues.push(typeIssue('boolean', v, path));
      return v as boolean;
    },
  };
}

export function unknown(): Shape<unknown> & { readonly optional: true } {
  return { check: (v) => v, optional: true };
}

export function literal<const L extends string | number>(expected: L): Shape<L> {
  return {
    check(v, path, issues) {
      if (v !== expected) issues.push({ path, message: `Invalid input: expected ${JSON.stringify(expected)}`, abort: true });
      return expected;
    },
  };
}

export function oneOf<const L extends readonly string[]>(options: L): Shape<L[number]> {
  return {
    check(v, path, issues) {
      if (!options.includes(v as string)) issues.push({ path, message: `Invalid option: expected one of ${options.map((o) => JSON.stringify(o)).join('|')}`, abort: true });
      return v as L[number];
    },
  };
}

export function optional<T>(shape: Shape<T>): Shape<T | undefined> & { readonly optional: true } {
  return { check: (v, path, issues) => (v === undefined ? undefined : shape.check(v, path, issues)), optional: true };
}

/** `fallback` where the value is absent (an object's key missing or undefined). */
export function withDefault<T>(shape: Shape<T>, fallback: T): Shape<T> {
  return { check: (v, path, issues) => (v === undefined ? fallback : shape.check(v, path, issues)) };
}

export interface ArrayRules {
  readonly min?: number;
  readonly max?: number;
}

export function array<T>(item: Shape<T>, rules: ArrayRules = {}): Shape<T[]> {
  return {
    check(v, path, issues) {
      if (!Array.isArray(v)) {
        issues.push(typeIssue('array', v, path));
        return [];
      }
      const out = v.map((x, i) => item.check(x, at(path, i), issues));
      if (rules.min !== undefined && v.length < rules.min) issues.push({ path, message: `Too small: expected array to have >=${rules.min} items`, abort: false });
      if (rules.max !== undefined && v.length > rules.max) issues.push({ path, message: `Too big: expected array to have <=${rules.max} items`, abort: false });
      return out;
    },
  };
}

/** A JSON object: not null, not an array. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object of any keys; `key` checks each key (a failing key is reported as zod's `Invalid key in record`). */
export function record<T>(value: Shape<T>, key?: Shape<string>): Shape<Record<string, T>> {
  return {
    check(v, path, issues) {
      if (!isPlainObject(v)) {
        issues.push(typeIssue('record', v, path));
        return {};
      }
      const out: Record<string, T> = {};
      for (const k of Object.keys(v)) {
        if (key) {
          const keyIssues: Issue[] = [];
          key.check(k, at(path, k), keyIssues);
          if (keyIssues.length > 0) {
            issues.push({ path: at(path, k), message: 'Invalid key in record', abort: false });
            continue;
          }
        }
        out[k] = value.check(v[k], at(path, k), issues);
      }
      return out;
    },
  };
}

/** Unknown keys are dropped (`strip`, zod's `object`), refused (`strict`) or kept (`loose`). */
export function object<F extends Fields>(fields: F, unknownKeys: 'strip' | 'strict' | 'loose' = 'strip'): Shape<ObjectOf<F>> {
  const names = Object.keys(fields);
  return {
    check(v, path, issues) {
      if (!isPlainObject(v)) {
        issues.push(typeIssue('object', v, path));
        return {} as ObjectOf<F>;
      }
      const out: Record<string, unknown> = unknownKeys === 'loose' ? { ...v } : {};
      for (const name of names) {
        const field = fields[name]!;
        const x = field.check(Object.hasOwn(v, name) ? v[name] : undefined, at(path, name), issues);
        if (x !== undefined) out[name] = x;
        else delete out[name];
      }
      if (unknownKeys === 'strict') {
        const extra = Object.keys(v).filter((k) => !Object.hasOwn(fields, k));
        if (extra.length > 0) issues.push({ path, message: `Unrecognized key${extra.length > 1 ? 's' : ''}: ${extra.map((k) => JSON.stringify(k)).join(', ')}`, abort: false });
      }
      return out as ObjectOf<F>;
    },
  };
}

const abortedSince = (issues: readonly Issue[], start: number) => issues.slice(start).some((i) => i.abort);

/** The first shape that accepts the value; else the one branch that failed only its checks, else `Invalid input`. */
export function union<S extends readonly Shape<unknown>[]>(...shapes: S): Shape<Infer<S[number]>> {
  return {
    check(v, path, issues) {
      const tries = shapes.map((s) => {
        const own: Issue[] = [];
        return { value: s.check(v, path, own), issues: own };
      });
      const ok = tries.find((t) => t.issues.length === 0);
      if (ok) return ok.value as Infer<S[number]>;
      const checked = tries.filter((t) => !abortedSince(t.issues, 0));
      if (checked.length === 1) {
        issues.push(...checked[0]!.issues);
        return checked[0]!.value as Infer<S[number]>;
      }
      issues.push({ path, message: 'Invalid input', abort: true });
      return undefined as Infer<S[number]>;
    },
  };
}

/** Adds a check that runs when the shape's own type checks passed; `where` places its issue below the value. */
export function refine<T>(shape: Shape<T>, ok: (value: T) => boolean, message: string, where: readonly PropertyKey[] = []): Shape<T> {
  return {
    ...shape,
    check(v, path, issues) {
      const start = issues.length;
      const out = shape.check(v, path, issues);
      if (!abortedSince(issues, start) && !ok(out)) issues.push({ path: [...path, ...where], message, abort: false });
      return out;
    },
  };
}

/** Converts an accepted value; any issue of the shape stops here, as a zod transform does. */
export function map<T, U>(shape: Shape<T>, convert: (value: T) => U): Shape<U> {
  return {
    check(v, path, issues) {
      const start = issues.length;
      const out = shape.check(v, path, issues);
      if (issues.length > start) {
        for (const i of issues.slice(start)) i.abort = true;
        return undefined as U;
      }
      return convert(out);
    },
  };
}

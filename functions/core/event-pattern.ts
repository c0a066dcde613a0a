/**
 * EventBridge event-pattern matching (content filtering), pure.
 *
 * Semantics follow EventBridge / aws event-ruler:
 * - keys AND together, values in a leaf array OR together;
 * - an event array matches when any of its elements matches (arrays are "crushed");
 * - a nested pattern over an array of objects must match within one element (array-consistent);
 * - `exists` looks at leaf values only: an object or an empty array is not a leaf, `null` is.
 */

import { inCidr, parseCidr } from './cidr';

/** A compiled pattern: a predicate over events. */
export type PatternMatcher = (event: unknown) => boolean;

type Leaf = (values: readonly unknown[]) => boolean;
type Node = (candidates: readonly unknown[]) => boolean;

const cache = new WeakMap<object, PatternMatcher>();

/** True when `event` matches the EventBridge `pattern`. Throws on an invalid pattern. */
export function matchesPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  let m = cache.get(pattern);
  if (!m) {
    m = compilePattern(pattern);
    cache.set(pattern, m);
  }
  return m(event);
}

/** Compiles a pattern once so it can be applied to many events. Throws on an invalid pattern. */
export function compilePattern(pattern: Record<string, unknown>): PatternMatcher {
  const problems = validatePattern(pattern);
  if (problems.length > 0) throw new Error(`invalid event pattern: ${problems.join('; ')}`);
  const node = compileObject(pattern);
  return (event) => node([event]);
}

/** Returns the problems of a pattern (empty when valid), each prefixed with its path, e.g. `detail.state[0]`. */
export function validatePattern(pattern: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(pattern)) return ['pattern must be a JSON object'];
  checkObject(pattern, '', problems);
  return problems;
}

// ---------- validation ----------

const NUMERIC_OPS = new Set(['<', '<=', '=', '>', '>=']);

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function checkObject(obj: Record<string, unknown>, path: string, problems: string[]): void {
  for (const [key, value] of Object.entries(obj)) {
    const p = join(path, key);
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2 || !value.every(isPlainObject)) {
        problems.push(`${p}: must be an array of at least two patterns`);
        continue;
      }
      value.forEach((sub, i) => {
        if (Object.keys(sub).length === 0) problems.push(`${p}[${i}]: must not be empty`);
        checkObject(sub, `${p}[${i}]`, problems);
      });
    } else if (Array.isArray(value)) {
      if (value.length === 0) problems.push(`${p}: must not be an empty array`);
      value.forEach((m, i) => checkMatcher(m, `${p}[${i}]`, problems));
    } else if (isPlainObject(value)) {
      if (Object.keys(value).length === 0) problems.push(`${p}: must not be an empty object`);
      checkObject(value, p, problems);
    } else {
      problems.push(`${p}: must be an array of values or a nested object, got ${describe(value)}`);
    }
  }
}

function checkMatcher(m: unknown, path: string, problems: string[]): void {
  if (m === null || typeof m === 'string' || typeof m === 'boolean') return;
  if (typeof m === 'number') {
    if (!Number.isFinite(m)) problems.push(`${path}: number must be finite`);
    return;
  }
  if (!isPlainObject(m)) {
    problems.push(`${path}: must be a string, number, boolean, null or an operator object, got ${describe(m)}`);
    return;
  }
  const keys = Object.keys(m);
  if (keys.length !== 1) {
    problems.push(`${path}: an operator object must have exactly one key, got ${keys.length}`);
    return;
  }
  const op = keys[0];
  const arg = m[op];
  const where = `${path}.${op}`;
  switch (op) {
    case 'prefix':
    case 'suffix':
      if (typeof arg === 'string') return;
      if (isPlainObject(arg) && Object.keys(arg).length === 1 && typeof arg['equals-ignore-case'] === 'string') return;
      problems.push(`${where}: must be a string or {"equals-ignore-case": string}`);
      return;
    case 'equals-ignore-case':
      if (typeof arg !== 'string') problems.push(`${where}: must be a string`);
      return;
    case 'wildcard':
      if (typeof arg !== 'string') problems.push(`${where}: must be a string`);
      else checkWildcard(arg, where, problems);
      return;
    case 'exists':
      if (typeof arg !== 'boolean') problems.push(`${where}: must be true or false`);
      return;
    case 'numeric':
      checkNumeric(arg, where, problems);
      return;
    case 'cidr':
      if (typeof arg !== 'string' || !parseCidr(arg)) problems.push(`${where}: must be an IPv4 or IPv6 CIDR block such as "10.0.0.0/24"`);
      return;
    case 'anything-but':
      checkAnythingBut(arg, where, problems);
      return;
    default:
      problems.push(`${path}: unknown operator "${op}"`);
  }
}

function checkAnythingBut(arg: unknown, where: string, problems: string[]): void {
  if (typeof arg === 'string' || (typeof arg === 'number' && Number.isFinite(arg))) return;
  if (Array.isArray(arg)) {
    const allStrings = arg.every((v) => typeof v === 'string');
    const allNumbers = arg.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (arg.length === 0 || !(allStrings || allNumbers)) problems.push(`${where}: a list must be non-empty and hold only strings or only numbers`);
    return;
  }
  if (isPlainObject(arg) && Object.keys(arg).length === 1) {
    const [op] = Object.keys(arg);
    const v = arg[op];
    const strings = typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string'));
    if (['prefix', 'suffix', 'equals-ignore-case', 'wildcard'].includes(op)) {
      // EventBridge refuses an empty anything-but prefix or suffix (it would exclude every string):
      // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
      if (!strings) problems.push(`${where}.${op}: must be a string or a list of strings`);
      else if ((op === 'prefix' || op === 'suffix') && (typeof v === 'string' ? [v] : (v as string[])).includes('')) problems.push(`${where}.${op}: must not be empty`);
      else if (op === 'wildcard') for (const w of typeof v === 'string' ? [v] : (v as string[])) checkWildcard(w, `${where}.${op}`, problems);
      return;
    }
    problems.push(`${where}: unknown operator "${op}"`);
    return;
  }
  problems.push(`${where}: must be a string, a number, a list, or one of {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}`);
}

function checkNumeric(arg: unknown, where: string, problems: string[]): void {
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
    problems.push(`${where}: must be [op, number] or [op, number, op, number]`);
    return;
  }
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const n = arg[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPS.has(op)) problems.push(`${where}[${i}]: unknown comparison ${describe(op)}, use one of < <= = > >=`);
    if (typeof n !== 'number' || !Number.isFinite(n)) problems.push(`${where}[${i + 1}]: must be a number`);
  }
  if (arg.length === 4) {
    const [op1, lo, op2, hi] = arg as [string, number, string, number];
    if (!['>', '>='].includes(op1) || !['<', '<='].includes(op2)) problems.push(`${where}: a range must be [">" | ">=", low, "<" | "<=", high]`);
    // As EventBridge does, a range needs its lower bound strictly below the upper one.
    else if (typeof lo === 'number' && typeof hi === 'number' && lo >= hi) problems.push(`${where}: the lower bound must be below the upper bound`);
  }
}

function checkWildcard(w: string, where: string, problems: string[]): void {
  for (let i = 0; i < w.length; i++) {
    const c = w[i];
    if (c === '\\') {
      const next = w[i + 1];
      if (next !== '*' && next !== '\\') {
        problems.push(`${where}: a backslash may only escape "*" or "\\"`);
        return;
      }
      i++;
    } else if (c === '*' && w[i + 1] === '*') {
      problems.push(`${where}: consecutive wildcard characters are not allowed`);
      return;
    }
  }
}

// ---------- compilation ----------

function compileObject(obj: Record<string, unknown>): Node {
  const parts: ((o: Record<string, unknown> | undefined) => boolean)[] = [];
  for (const [key, value] of Object.entries(obj)) {
    if (key === '$or') {
      const alternatives = (value as Record<string, unknown>[]).map(compileObject);
      parts.push((o) => alternatives.some((alt) => alt([o])));
    } else if (Array.isArray(value)) {
      const leaf = compileLeaf(value);
      parts.push((o) => leaf(leafValues(o?.[key])));
    } else {
      const child = compileObject(value as Record<string, unknown>);
      parts.push((o) => child(objectsAt(o?.[key])));
    }
  }
  // Each candidate is one object (one array element); all parts must hold within the same candidate.
  return (candidates) => candidates.some((c) => {
    const o = isPlainObject(c) ? c : undefined;
    return parts.every((part) => part(o));
  });
}

/** Objects a nested pattern applies to; `[undefined]` when there are none, so `exists: false` can still match. */
function objectsAt(value: unknown): unknown[] {
  if (isPlainObject(value)) return [value];
  if (Array.isArray(value)) {
    const objs = flatten(value).filter(isPlainObject);
    if (objs.length > 0) return objs;
  }
  return [undefined];
}

/** Leaf values of a field: scalars and null; arrays are flattened, objects are not leaves. */
function leafValues(value: unknown): unknown[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return flatten(value).filter((v) => !isPlainObject(v));
  if (isPlainObject(value)) return [];
  return [value];
}

function flatten(arr: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of arr) {
    if (Array.isArray(v)) out.push(...flatten(v));
    else out.push(v);
  }
  return out;
}

function compileLeaf(matchers: readonly unknown[]): Leaf {
  const valueTests: ((v: unknown) => boolean)[] = [];
  let existsTrue = false;
  let existsFalse = false;
  for (const m of matchers) {
    if (isPlainObject(m) && 'exists' in m) {
      if (m.exists) existsTrue = true;
      else existsFalse = true;
    } else {
      valueTests.push(compileMatcher(m));
    }
  }
  return (values) => {
    if (values.length === 0) return existsFalse;
    if (existsTrue) return true;
    return values.some((v) => valueTests.some((t) => t(v)));
  };
}

function compileMatcher(m: unknown): (v: unknown) => boolean {
  if (!isPlainObject(m)) return (v) => v === m;
  const [op] = Object.keys(m);
  const arg = m[op];
  switch (op) {
    case 'prefix':
      return stringTest(arg, (s, p) => s.startsWith(p));
    case 'suffix':
      return stringTest(arg, (s, p) => s.endsWith(p));
    case 'equals-ignore-case': {
      const want = (arg as string).toLowerCase();
      return (v) => typeof v === 'string' && v.toLowerCase() === want;
    }
    case 'wildcard': {
      const re = wildcardRegExp(arg as string);
      return (v) => typeof v === 'string' && re.test(v);
    }
    case 'numeric':
      return numericTest(arg as unknown[]);
    case 'cidr': {
      const block = parseCidr(arg as string)!;
      return (v) => typeof v === 'string' && inCidr(v, block);
    }
    case 'anything-but':
      return anythingBut(arg);
    default:
      return () => false;
  }
}

function stringTest(arg: unknown, test: (s: string, p: string) => boolean): (v: unknown) => boolean {
  if (typeof arg === 'string') return (v) => typeof v === 'string' && test(v, arg);
  const p = (arg as Record<string, string>)['equals-ignore-case'].toLowerCase();
  return (v) => typeof v === 'string' && test(v.toLowerCase(), p);
}

function anythingBut(arg: unknown): (v: unknown) => boolean {
  if (typeof arg === 'string' || typeof arg === 'number') return (v) => v !== arg;
  if (Array.isArray(arg)) {
    const set = new Set(arg);
    return (v) => !set.has(v);
  }
  const [op] = Object.keys(arg as object);
  const raw = (arg as Record<string, unknown>)[op];
  const list = typeof raw === 'string' ? [raw] : (raw as string[]);
  let inner: (s: string) => boolean;
  switch (op) {
    case 'prefix':
      inner = (s) => list.some((p) => s.startsWith(p));
      break;
    case 'suffix':
      inner = (s) => list.some((p) => s.endsWith(p));
      break;
    case 'equals-ignore-case': {
      const lower = list.map((p) => p.toLowerCase());
      inner = (s) => lower.includes(s.toLowerCase());
      break;
    }
    default: {
      const res = list.map(wildcardRegExp);
      inner = (s) => res.some((re) => re.test(s));
    }
  }
  // These forms only apply to strings: a number or null never "does not start with" anything.
  return (v) => typeof v === 'string' && !inner(v);
}

function numericTest(spec: readonly unknown[]): (v: unknown) => boolean {
  const checks: ((n: number) => boolean)[] = [];
  for (let i = 0; i < spec.length; i += 2) {
    const op = spec[i] as string;
    const bound = spec[i + 1] as number;
    switch (op) {
      case '<': checks.push((n) => n < bound); break;
      case '<=': checks.push((n) => n <= bound); break;
      case '=': checks.push((n) => n === bound); break;
      case '>': checks.push((n) => n > bound); break;
      default: checks.push((n) => n >= bound);
    }
  }
  return (v) => typeof v === 'number' && checks.every((c) => c(v));
}

function wildcardRegExp(w: string): RegExp {
  let src = '';
  for (let i = 0; i < w.length; i++) {
    const c = w[i];
    if (c === '\\' && (w[i + 1] === '*' || w[i + 1] === '\\')) {
      src += `\\${w[i + 1]}`;
      i++;
    } else if (c === '*') {
      src += '.*';
    } else {
      src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${src}$`, 's');
}

// ---------- helpers ----------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : typeof v;
}

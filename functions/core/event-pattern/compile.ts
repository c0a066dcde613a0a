import { isPlainObject } from '../shape';
import { cidrMatcher } from './cidr';
import { wildcardRegExp } from './wildcard';

type Leaf = (values: readonly unknown[]) => boolean;
type Node = (candidates: readonly unknown[]) => boolean;

/** A valid pattern as a test of one event. */
export function compileValid(pattern: Record<string, unknown>): (event: unknown) => boolean {
  const node = compileObject(pattern);
  return (event) => node([event]);
}

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
      const inBlock = cidrMatcher(arg as string)!;
      return (v) => typeof v === 'string' && inBlock(v);
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

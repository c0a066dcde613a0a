import { isPlainObject } from '../shape';
import { cidrMatcher } from './cidr';
import { wildcardProblem } from './wildcard';

/** Returns the problems of a pattern (empty when valid), each prefixed with its path, e.g. `detail.state[0]`. */
export function validatePattern(pattern: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(pattern)) return ['pattern must be a JSON object'];
  checkObject(pattern, '', problems);
  return problems;
}

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
      if (typeof arg !== 'string' || !cidrMatcher(arg)) problems.push(`${where}: must be an IPv4 or IPv6 CIDR block such as "10.0.0.0/24"`);
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
  const problem = wildcardProblem(w);
  if (problem) problems.push(`${where}: ${problem}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : typeof v;
}

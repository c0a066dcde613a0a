import jsonata from 'jsonata';

/**
 * Synchronous evaluation of simple JSONata expressions, in front of jsonata's evaluator (async, a promise per node).
 * The subset: field paths, string/number/true/false/null literals, `&`, `+ - * / %`, unary minus, `= != < <= > >=`,
 * `and`, `or`, `? :`, `[...]`, and calls of a few pure built-ins. Built-ins and the coercions `&` and conditions
 * use (`$string`, `$boolean`) run jsonata's own implementations and signature checks. Whatever the subset leaves out,
 * and every value whose handling is subtle (an array inside a path) or that jsonata would refuse with an error, is
 * answered by FALLBACK: the caller then evaluates the expression with jsonata, which gives its result or its error.
 */

/** What a direct evaluation returns when jsonata must evaluate the expression instead. */
export const FALLBACK: unique symbol = Symbol('jsonata');

export type DirectExpression = (input: Record<string, unknown>) => unknown;

/** Thrown inside a direct evaluation to hand it to jsonata. */
const BAIL = { bail: true };

type Fn = (input: unknown) => unknown;

/** A jsonata built-in function as a value (`$uppercase`): its implementation and signature check. */
interface Native {
  implementation: (this: unknown, ...args: unknown[]) => unknown;
  signature: { validate(args: unknown[], context: unknown): unknown[] };
}

/** Synchronous built-ins without side effects or access to the environment. */
const BUILTINS = ['string', 'boolean', 'not', 'exists', 'uppercase', 'lowercase', 'trim', 'length', 'substring', 'substringBefore', 'substringAfter', 'join', 'number', 'abs', 'floor', 'ceil', 'round'];

let natives: ReadonlyMap<string, Native> | undefined;
let loading: Promise<void> | undefined;

function isNative(f: unknown): f is Native {
  const n = f as Partial<Native> & { _jsonata_function?: unknown };
  return !!n && n._jsonata_function === true && typeof n.implementation === 'function' && n.implementation.constructor === Function && typeof n.signature?.validate === 'function';
}

/** Fetches jsonata's built-ins (only its async evaluator hands them out); until then every direct evaluation falls back. */
export function loadBuiltins(): Promise<void> {
  loading ??= (async () => {
    const found = new Map<string, Native>();
    for (const name of BUILTINS) {
      const f: unknown = await jsonata(`$${name}`).evaluate(null);
      if (!isNative(f)) return; // another jsonata shape: leave everything to jsonata
      found.set(name, f);
    }
    natives = found;
  })().catch(() => undefined);
  return loading;
}

function native(name: string): Native {
  const n = natives?.get(name);
  if (!n) throw BAIL;
  return n;
}

/** `this` of a built-in: none of BUILTINS reads it beyond making a sequence; one that did would throw and fall back. */
const FOCUS = {
  createSequence(...items: unknown[]) {
    const s = Object.assign([] as unknown[], { sequence: true });
    if (items.length === 1) s.push(items[0]);
    return s;
  },
};

const isObject = (v: unknown): v is object => v !== null && typeof v === 'object';
/** jsonata treats such objects as functions. */
const looksLikeFunction = (v: object) => (v as { _jsonata_function?: unknown })._jsonata_function === true || (v as { _jsonata_lambda?: unknown })._jsonata_lambda === true;

/** Coercions jsonata applies with `&` (fn.string) and in conditions and `and`/`or` (fn.boolean). */
const toText = (v: unknown): string => native('string').implementation.call(undefined, v) as string;
const toBool = (v: unknown): unknown => native('boolean').implementation.call(undefined, v);

function callNative(name: string, args: readonly Fn[]): Fn {
  return (input) => {
    const values: unknown[] = [];
    for (const a of args) {
      const v = a(input);
      if (typeof v === 'function') throw BAIL;
      values.push(v);
    }
    const f = native(name);
    const result = f.implementation.apply(FOCUS, f.signature.validate(values, input));
    // None of BUILTINS answers an object; a sequence, promise or generator would need jsonata's own handling.
    if (isObject(result)) throw BAIL;
    return result;
  };
}

/** One field of an object; what jsonata's lookup gives for a single, non-array context. */
function field(v: unknown, name: string): unknown {
  if (!isObject(v)) return undefined;
  if (Array.isArray(v) || looksLikeFunction(v)) throw BAIL;
  return Object.hasOwn(v, name) ? (v as Record<string, unknown>)[name] : undefined;
}

/** A path of plain field names. An array met before the last step would be mapped over: left to jsonata. */
function compilePath(names: readonly string[]): Fn {
  const last = names.length - 1;
  return (input) => {
    let cur = input;
    for (let i = 0; i < last; i++) {
      cur = field(cur, names[i]!);
      if (cur === undefined) return undefined;
      if (Array.isArray(cur)) throw BAIL;
    }
    const v = field(cur, names[last]!);
    if (typeof v === 'function') throw BAIL;
    return v;
  };
}

/** A number jsonata accepts as an operand (isNumeric: finite; a non-finite one is an error). */
function operand(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw BAIL;
  return v;
}

function compileBinary(op: string, l: Fn, r: Fn): Fn | undefined {
  const boolize = (v: unknown) => toBool(v) ?? false;
  switch (op) {
    case 'and':
      return (x) => boolize(l(x)) && boolize(r(x));
    case 'or':
      return (x) => boolize(l(x)) || boolize(r(x));
    case '&':
      return (x) => {
        const a = l(x);
        const b = r(x);
        return (a === undefined ? '' : toText(a)) + (b === undefined ? '' : toText(b));
      };
    case '+':
    case '-':
    case '*':
    case '/':
    case '%': {
      const arith = ARITH[op]!;
      return (x) => {
        const a = operand(l(x));
        const b = operand(r(x));
        return a === undefined || b === undefined ? undefined : arith(a, b);
      };
    }
    case '=':
    case '!=': {
      const eq = op === '=';
      return (x) => {
        const a = l(x);
        const b = r(x);
        if (a === undefined || b === undefined) return false;
        if (isObject(a) && isObject(b)) throw BAIL; // deep equality
        return (a === b) === eq;
      };
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const cmp = COMPARE[op]!;
      return (x) => {
        const a = l(x);
        const b = r(x);
        const ta = typeof a;
        const tb = typeof b;
        if ((ta !== 'string' && ta !== 'number') || ta !== tb) {
          if (a === undefined && (tb === 'string' || tb === 'number' || b === undefined)) return undefined;
          if (b === undefined && (ta === 'string' || ta === 'number')) return undefined;
          throw BAIL;
        }
        return cmp(a as number, b as number);
      };
    }
    default:
      return undefined;
  }
}

const ARITH: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
};

const COMPARE: Record<string, (a: number | string, b: number | string) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/** A node of `jsonata(expr).ast()`, the parts read here. */
interface Node {
  type: string;
  value?: unknown;
  steps?: Node[];
  expression?: Node;
  expressions?: Node[];
  lhs?: Node;
  rhs?: Node;
  condition?: Node;
  then?: Node;
  else?: Node;
  procedure?: Node;
  arguments?: Node[];
  name?: unknown;
}

/** Keys a node of each supported type may have; any other key (predicate, stages, group, keepArray...) changes its meaning. */
const KEYS: Record<string, ReadonlySet<string>> = {
  string: new Set(['type', 'value', 'position']),
  number: new Set(['type', 'value', 'position']),
  value: new Set(['type', 'value', 'position']),
  name: new Set(['type', 'value', 'position']),
  variable: new Set(['type', 'value', 'position']),
  path: new Set(['type', 'steps']),
  unary: new Set(['type', 'value', 'position', 'expression', 'expressions']),
  binary: new Set(['type', 'value', 'position', 'lhs', 'rhs']),
  condition: new Set(['type', 'position', 'condition', 'then', 'else']),
  function: new Set(['type', 'name', 'value', 'position', 'arguments', 'procedure']),
  block: new Set(['type', 'position', 'expressions']),
};

function plain(node: Node | undefined): node is Node {
  if (!node || typeof node !== 'object' || typeof node.type !== 'string') return false;
  const keys = KEYS[node.type];
  return !!keys && Object.keys(node).every((k) => keys.has(k));
}

function compileNode(node: Node | undefined, budget: { nodes: number }): Fn | undefined {
  if (!plain(node) || --budget.nodes < 0) return undefined;
  const sub = (n: Node | undefined) => compileNode(n, budget);
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      const v = node.value;
      const ok = node.type === 'string' ? typeof v === 'string' : node.type === 'number' ? typeof v === 'number' : v === true || v === false || v === null;
      return ok ? () => v : undefined;
    }
    case 'path': {
      const steps = node.steps ?? [];
      if (steps.length === 0 || !steps.every((s) => plain(s) && s.type === 'name' && typeof s.value === 'string')) return undefined;
      budget.nodes -= steps.length;
      return compilePath(steps.map((s) => s.value as string));
    }
    case 'unary': {
      if (node.value === '-' && node.expressions === undefined) {
        const e = sub(node.expression);
        return e && ((x) => {
          const v = operand(e(x));
          return v === undefined ? undefined : -v;
        });
      }
      if (node.value === '[' && node.expression === undefined && Array.isArray(node.expressions)) {
        const items = node.expressions.map((e) => ({ nested: e.type === 'unary' && e.value === '[', fn: sub(e) }));
        if (items.some((i) => !i.fn)) return undefined;
        return (x) => {
          const out: unknown[] = [];
          for (const { nested, fn } of items) {
            const v = fn!(x);
            if (v === undefined) continue;
            if (Array.isArray(v) && !nested) throw BAIL; // appended element by element
            out.push(v);
          }
          return out;
        };
      }
      return undefined;
    }
    case 'binary': {
      const l = sub(node.lhs);
      const r = l && sub(node.rhs);
      return r && compileBinary(String(node.value), l!, r);
    }
    case 'condition': {
      const c = sub(node.condition);
      const t = c && sub(node.then);
      if (!t) return undefined;
      if (node.else === undefined) return (x) => (toBool(c!(x)) ? t(x) : undefined);
      const e = sub(node.else);
      return e && ((x) => (toBool(c!(x)) ? t(x) : e(x)));
    }
    case 'block': {
      // `(a; b)`: each in turn, the last one's value (a binding `:=` is outside the subset)
      const all = (node.expressions ?? []).map(sub);
      if (all.length === 0 || all.some((e) => !e)) return undefined;
      if (all.length === 1) return all[0];
      return (x) => {
        let v: unknown;
        for (const e of all) v = e!(x);
        return v;
      };
    }
    case 'function': {
      const p = node.procedure;
      if (node.value !== '(' || node.name !== undefined || !plain(p) || p.type !== 'variable' || !BUILTINS.includes(String(p.value))) return undefined;
      const args = (node.arguments ?? []).map(sub);
      if (args.some((a) => !a)) return undefined;
      return callNative(String(p.value), args as Fn[]);
    }
    default:
      return undefined;
  }
}

/**
 * The direct form of a compiled JSONata expression, or undefined when it lies outside the subset. `maxDepth` is the
 * evaluation depth jsonata was given: an expression that could reach it stays with jsonata.
 */
export function compileDirect(expr: jsonata.Expression, maxDepth: number): DirectExpression | undefined {
  const fn = compileNode(expr.ast() as unknown as Node, { nodes: Math.min(256, maxDepth - 1) });
  if (!fn) return undefined;
  void loadBuiltins();
  return (input) => {
    if (natives === undefined) return FALLBACK;
    try {
      return fn(input);
    } catch {
      return FALLBACK;
    }
  };
}

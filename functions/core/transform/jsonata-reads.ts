import jsonata from 'jsonata';

/**
 * The record fields a JSONata expression reads: dotted paths from the record's root, or `whole` when it reads the
 * record as a whole (`$`, `$$`, `*`, `**`, `$keys($)`...). An over-approximation: a field that could reach the
 * result counts as read, even when only a predicate or a condition looks at it.
 */
export interface JsonataReads {
  readonly paths: ReadonlySet<string>;
  readonly whole: boolean;
}

interface Reads {
  paths: Set<string>;
  whole: boolean;
}

/** A node of the AST that `jsonata(expr).ast()` answers (only the parts read here). */
interface Node {
  type?: string;
  value?: unknown;
  steps?: Node[];
  stages?: Node[];
  predicate?: Node[];
  group?: { lhs?: [Node, Node][] };
  expr?: Node;
  focus?: string;
  index?: string;
  tuple?: boolean;
  arguments?: Node[];
  procedure?: Node;
  body?: Node;
  lhs?: Node | Node[] | [Node, Node][];
  rhs?: Node;
  expressions?: Node[];
  condition?: Node;
  then?: Node;
  else?: Node;
  [k: string]: unknown;
}

interface Scope {
  /** Whether a bare field name or `$` here means the record's root (false inside a step's predicate or a nested path). */
  readonly atRoot: boolean;
  /** Off the root: what the context value was read from; `$`, a field of it or a built-in given no argument read no more. */
  readonly context: Reads;
}

/**
 * Variables by name, across the whole expression: what every binding of a name (anywhere, in any scope) can hold.
 * Flow-insensitive on purpose: a closure may read a variable bound after it, a binding may sit inside a condition or
 * an argument, and a function may call itself. The walk runs again until no variable gains a read.
 */
interface Vars {
  /** Names the expression binds (`:=`) or takes as lambda parameters: calls of these are not the built-ins. */
  readonly bound: ReadonlySet<string>;
  readonly reads: Map<string, Reads>;
  changed: boolean;
}

const none = (): Reads => ({ paths: new Set(), whole: false });
const whole = (): Reads => ({ paths: new Set(), whole: true });

function union(...all: Reads[]): Reads {
  const out = none();
  for (const r of all) {
    if (r.whole) out.whole = true;
    for (const p of r.paths) out.paths.add(p);
  }
  return out;
}

/** Functions whose result holds no value of their arguments, only whether or how many there are. */
const VALUELESS = new Set(['exists', 'count', 'type']);
/**
 * Built-ins that take the context as their first argument when it is left out (a `-` in their JSONata signature)
 * and accept an object there, by how many arguments a call has when it leaves it out: `$string()` or `$lookup("email")`
 * at the root read the record.
 */
const CONTEXT_FIRST: ReadonlyMap<string, number> = new Map([
  ['string', 0],
  ['boolean', 0],
  ['not', 0],
  ['keys', 0],
  ['spread', 0],
  ['clone', 0],
  ['lookup', 1],
  ['each', 1],
  ['sift', 1],
]);

/** Built-ins that may read the record without naming a field: `$eval` evaluates a text that may say `$$`. */
const READS_ANYTHING = (name: string) => name === 'eval' || CONTEXT_FIRST.has(name);

function isNode(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Any nested nodes of a node this walker has no rule for (the conservative fallback). */
function children(node: Node): Node[] {
  const out: Node[] = [];
  const visit = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isNode(v) && typeof v.type === 'string') out.push(v);
    // Untyped holders of nodes: a group-by's `lhs`, a sort's `terms`.
    else if (isNode(v)) Object.values(v).forEach(visit);
  };
  for (const [k, v] of Object.entries(node)) if (k !== 'type' && k !== 'value' && k !== 'position') visit(v);
  return out;
}

/**
 * The messages an expression's `$error` and `$assert` calls can give without reading a record: each call's message
 * when every one of them is a string literal; none when any is computed (even a choice among literals may encode a
 * value, `["000", ...][$number(x)]`).
 */
export function literalErrorMessages(ast: unknown): Set<string> {
  const out = new Set<string>();
  let computed = false;
  const visit = (node: Node) => {
    const name = node.type === 'function' && node.procedure?.type === 'variable' ? String(node.procedure.value) : undefined;
    const message = name === 'error' ? node.arguments?.[0] : name === 'assert' ? node.arguments?.[1] : undefined;
    if (message?.type === 'string') out.add(String(message.value));
    else if (message !== undefined) computed = true;
    children(node).forEach(visit);
  };
  if (isNode(ast)) visit(ast as Node);
  return computed ? new Set() : out;
}

/** Every name the expression binds or takes as a parameter. */
function boundNames(node: Node, out = new Set<string>()): Set<string> {
  if (node.type === 'bind' && isNode(node.lhs)) out.add(String(node.lhs.value));
  if (node.type === 'lambda') for (const a of node.arguments ?? []) out.add(String(a.value));
  for (const c of children(node)) boundNames(c, out);
  return out;
}

/** At the root the context is the record: `$` reads it whole (a bare name there reads only that field). */
const ROOT: Scope = { atRoot: true, context: whole() };
const inside = (context: Reads): Scope => ({ atRoot: false, context });

/** Built-ins that call the function they are given with explicit arguments: a built-in passed to them reads only those. */
const HIGHER_ORDER = new Set(['map', 'filter', 'reduce', 'sort', 'single', 'each', 'sift']);
/** A `$lookup` key appended past this depth no longer narrows (a variable re-bound through `$lookup` would grow forever). */
const MAX_PATH_SEGMENTS = 32;

const hasParts = (s: Node): boolean => (s.stages?.length ?? 0) > 0 || (s.predicate?.length ?? 0) > 0 || s.group !== undefined || s.focus !== undefined || s.index !== undefined;

/**
 * A field, a variable or a path of plain steps (no predicate, no expression): its value is exactly what it names.
 * `fields`: variables only as a leading `$` or `$$`, so it names fields of the context or the record.
 */
function isPlainRef(n: Node, fields = false): boolean {
  const plainVariable = (st: Node, i: number) => st.type === 'variable' && (!fields || (i === 0 && (st.value === '' || st.value === '$')));
  if (n.type === 'name' || n.type === 'variable') return (n.type === 'name' || plainVariable(n, 0)) && !hasParts(n);
  return n.type === 'path' && (n.steps ?? []).every((st, i) => (st.type === 'name' || plainVariable(st, i)) && !hasParts(st)) && n.group === undefined;
}

/** A field path from the record itself (`$$`, `$$.a`): it means the same in any scope. */
function fromRecord(n: Node): boolean {
  if (n.type === 'variable') return n.value === '$';
  return n.type === 'path' && n.steps?.[0]?.type === 'variable' && n.steps[0].value === '$' && isPlainRef(n, true);
}

class Walker {
  constructor(private readonly vars: Vars) {}

  /** What a variable can hold: every binding of its name, and the record for a built-in that reads its context. */
  variable(name: string): Reads {
    const bound = this.vars.reads.get(name) ?? none();
    return READS_ANYTHING(name) ? union(whole(), bound) : bound;
  }

  bind(name: string, r: Reads): void {
    const known = this.vars.reads.get(name) ?? none();
    if ((r.whole && !known.whole) || [...r.paths].some((p) => !known.paths.has(p))) {
      this.vars.reads.set(name, union(known, r));
      this.vars.changed = true;
    }
  }

  /** Predicates, stages and group-by of a step, evaluated against its value. */
  parts(s: Node, scope: Scope): Reads {
    const out = [...(s.stages ?? []), ...(s.predicate ?? [])].map((st) => this.walk(st.expr ?? st, scope));
    for (const [k, v] of s.group?.lhs ?? []) out.push(this.walk(k, scope), this.walk(v, scope));
    return union(...out);
  }

  path(node: Node, scope: Scope): Reads {
    const steps = node.steps ?? [];
    if (steps.some((s) => s.focus !== undefined)) {
      // A focus (`@`) binds its step and leaves the context where it was: later steps read what the path started from.
      return union(scope.context, ...steps.map((s) => union(this.walk(s, scope), this.parts(s, scope))), this.parts(node, scope));
    }
    const extra: Reads[] = [];
    let i = 0;
    // What the next step's context was read from; undefined while it is the record's root.
    let acc: Reads | undefined = scope.atRoot ? undefined : scope.context;
    const first = steps[0];
    if (first?.type === 'variable') {
      i = 1;
      if (first.value === '$') acc = undefined; // `$$`: the input record, wherever it is used
      else if (first.value !== '') acc = this.variable(String(first.value)); // `$` keeps the current context
      extra.push(this.parts(first, acc === undefined ? ROOT : inside(acc)));
    }
    if (acc === undefined) {
      const prefix: string[] = [];
      for (; i < steps.length; i++) {
        const s = steps[i]!;
        if (s.type !== 'name') break;
        prefix.push(String(s.value));
        if (hasParts(s)) {
          i++;
          extra.push(this.parts(s, inside({ paths: new Set([prefix.join('.')]), whole: false })));
          break;
        }
      }
      if (prefix.length > 0) acc = { paths: new Set([prefix.join('.')]), whole: false };
      else if (i < steps.length) {
        // A first step that is an expression (`$f(x).y`, `(a).b`), evaluated against the record.
        acc = union(this.walk(steps[i]!, ROOT), this.parts(steps[i]!, ROOT));
        i++;
      } else acc = whole(); // `$` or `$$` alone
    }
    // Each later step is evaluated against what the steps before it gave.
    for (; i < steps.length; i++) {
      if (steps[i]!.type === 'parent') {
        const climbed = this.climb(acc, steps, i);
        acc = union(acc, climbed.reads);
        i = climbed.next - 1;
        continue;
      }
      const here = inside(acc);
      acc = union(acc, this.walk(steps[i]!, here), this.parts(steps[i]!, here));
    }
    return union(acc, this.parts(node, inside(acc)), ...extra);
  }

  /**
   * `%` and the plain field steps after it (`%.id`, `%.%.order.id`). The parent is a value on the way from the record
   * to the context: the record or what a prefix of a path the context was read from names. So those fields are read
   * under each such prefix. `%` on its own, or followed by anything else, may be the record: read whole.
   */
  private climb(context: Reads, steps: readonly Node[], at: number): { reads: Reads; next: number } {
    const names: string[] = [];
    let j = at;
    let last: Node | undefined;
    for (; j < steps.length; j++) {
      const s = steps[j]!;
      if (s.type === 'parent' && names.length === 0) {
        // Another level up, among the same prefixes; a predicate or stage on it (`%[ssn = "x"]`) may read the record.
        if (hasParts(s)) return { reads: whole(), next: j + 1 };
        continue;
      }
      if (s.type !== 'name') break;
      names.push(String(s.value));
      if (hasParts(s)) {
        last = s;
        j++;
        break;
      }
    }
    if (context.whole || names.length === 0) return { reads: whole(), next: j };
    const reads = none();
    for (const p of ['', ...context.paths]) {
      const segments = p === '' ? [] : p.split('.');
      for (let k = 0; k <= segments.length; k++) reads.paths.add([...segments.slice(0, k), ...names].join('.'));
    }
    return { reads: last ? union(reads, this.parts(last, inside(reads))) : reads, next: j };
  }

  /** A call; `piped` is 1 when `~>` gives it its first argument. */
  call(node: Node, scope: Scope, piped = 0): Reads {
    const proc = node.procedure;
    const args = node.arguments ?? [];
    if (proc?.type !== 'variable') return union(this.walk(proc, scope), ...args.map((a) => this.walk(a, scope)));
    const name = String(proc.value);
    // A name the expression binds may be the built-in or not, depending on where it is called: both count.
    const user = this.vars.bound.has(name);
    // A higher-order built-in calls a built-in it is given with the items it walks, never with the context.
    const argReads = args.map((a) =>
      !user && HIGHER_ORDER.has(name) && a.type === 'variable' && !this.vars.bound.has(String(a.value)) && !['', '$', 'eval'].includes(String(a.value)) ? none() : this.walk(a, scope),
    );
    if (!user && VALUELESS.has(name) && args.every((a) => isPlainRef(a))) return none();
    const out = user ? [this.vars.reads.get(name) ?? none(), ...argReads] : argReads;
    if (name === 'eval') return union(whole(), ...out);
    if (CONTEXT_FIRST.get(name) === args.length + piped) return union(scope.context, ...out);
    // `$lookup(obj, "key")` with a literal key on a field path (or `$`, `$$`) reads that key only. Not on a variable,
    // which holds every binding of its name: one re-bound through `$lookup` would grow its paths at each pass.
    const obj = argReads[0];
    if (!user && name === 'lookup' && piped === 0 && args.length === 2 && args[1]!.type === 'string' && (scope.atRoot ? isPlainRef(args[0]!, true) : fromRecord(args[0]!)) && obj && [...obj.paths].every((p) => p.split('.').length < MAX_PATH_SEGMENTS)) {
      const key = String(args[1]!.value);
      const r = none();
      if (obj.whole) r.paths.add(key);
      for (const p of obj.paths) r.paths.add(`${p}.${key}`);
      return r;
    }
    return union(...out);
  }

  walk(node: Node | undefined, scope: Scope): Reads {
    if (!node) return none();
    const r = this.walkNode(node, scope);
    // Predicates, group-by and stages may follow any expression (`[1]{"k": $$.ssn}`), not only a path step.
    return node.type !== 'path' && (node.predicate || node.stages || node.group) ? union(r, this.parts(node, inside(r))) : r;
  }

  walkNode(node: Node, scope: Scope): Reads {
    switch (node.type) {
      case 'string':
      case 'number':
      case 'value':
      case 'regex':
      case 'operator':
        return none();
      case 'name':
        return scope.atRoot ? { paths: new Set([String(node.value)]), whole: false } : scope.context;
      case 'path':
        return this.path(node, scope);
      case 'variable': {
        if (node.value === '') return scope.context;
        if (node.value === '$') return whole();
        return this.variable(String(node.value));
      }
      case 'wildcard':
      case 'descendant':
        return scope.context;
      case 'parent':
        // `%` on its own: a value on the way from the record to the context, maybe the record itself.
        return whole();
      case 'function':
      case 'partial':
        return this.call(node, scope);
      case 'lambda':
        // The body runs against the context where the lambda was defined; a call's reads include its arguments.
        return this.walk(node.body, scope);
      case 'apply':
        // `x ~> $f(a)` is `$f(x, a)`: the left side is the call's first argument, not its context.
        if (isNode(node.rhs) && (node.rhs.type === 'function' || node.rhs.type === 'partial') && isNode(node.lhs)) return union(this.walk(node.lhs, scope), this.call(node.rhs, scope, 1));
        return union(...children(node).map((c) => this.walk(c, scope)));
      case 'bind': {
        const r = this.walk(node.rhs, scope);
        if (isNode(node.lhs)) this.bind(String(node.lhs.value), r);
        return r;
      }
      case 'block': {
        let last = none();
        for (const e of node.expressions ?? []) last = this.walk(e, scope);
        return last;
      }
      case 'unary':
        if (node.value === '{' && Array.isArray(node.lhs)) return union(...(node.lhs as [Node, Node][]).flatMap(([k, v]) => [this.walk(k, scope), this.walk(v, scope)]));
        if (node.value === '[') return union(...(node.expressions ?? []).map((e) => this.walk(e, scope)));
        return union(...children(node).map((c) => this.walk(c, scope)));
      default:
        // binary, condition, apply (~>), sort, transform, filter...: every operand can reach the result.
        return union(...children(node).map((c) => this.walk(c, scope)));
    }
  }
}

/** Passes of the walk before it gives up on following variables and takes the record as read whole. */
const MAX_PASSES = 50;

/** The fields `expression` reads; throws the JSONata syntax error of an invalid expression. */
export function jsonataReads(expression: string): JsonataReads {
  const ast = jsonata(expression).ast() as unknown as Node;
  const vars: Vars = { bound: boundNames(ast), reads: new Map(), changed: true };
  const walker = new Walker(vars);
  let r = none();
  // Each pass can only add reads to a variable; paths grow only up to MAX_PATH_SEGMENTS, so this ends. The cap on
  // passes is a guard: a walk that needs more is taken as reading the record whole.
  for (let pass = 0; vars.changed; pass++) {
    if (pass === MAX_PASSES) return { paths: new Set(), whole: true };
    vars.changed = false;
    r = walker.walk(ast, ROOT);
  }
  return { paths: r.paths, whole: r.whole };
}

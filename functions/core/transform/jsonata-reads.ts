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
  };
  for (const [k, v] of Object.entries(node)) if (k !== 'type' && k !== 'value' && k !== 'position') visit(v);
  return out;
}

/** Every name the expression binds or takes as a parameter. */
function boundNames(node: Node, out = new Set<string>()): Set<string> {
  if (node.type === 'bind' && isNode(node.lhs)) out.add(String(node.lhs.value));
  if (node.type === 'lambda') for (const a of node.arguments ?? []) out.add(String(a.value));
  for (const c of children(node)) boundNames(c, out);
  return out;
}

/** Whether the expression holds the parent operator `%` anywhere: it may climb back to the record from any depth. */
function climbs(node: Node): boolean {
  return node.type === 'parent' || children(node).some(climbs);
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

  path(node: Node, scope: Scope): Reads {
    const steps = node.steps ?? [];
    const extra: Reads[] = [];
    const nested: Scope = { atRoot: false };
    let i = 0;
    let rooted = scope.atRoot;
    let base: Reads | undefined;
    const first = steps[0];
    if (first?.type === 'variable') {
      i = 1;
      if (first.value === '$') rooted = true; // `$$`: the input record, wherever it is used
      else if (first.value === '') rooted = scope.atRoot; // `$`: the current context
      else {
        base = this.variable(String(first.value));
        rooted = false;
      }
      for (const s of first.stages ?? []) extra.push(this.walk(s.expr ?? s, nested));
    }
    const prefix: string[] = [];
    if (rooted) {
      for (; i < steps.length; i++) {
        const s = steps[i]!;
        if (s.type !== 'name') break;
        prefix.push(String(s.value));
        const nestedParts = (s.stages?.length ?? 0) > 0 || (s.predicate?.length ?? 0) > 0 || s.group !== undefined || s.focus !== undefined || s.index !== undefined;
        if (nestedParts) {
          for (const st of [...(s.stages ?? []), ...(s.predicate ?? [])]) extra.push(this.walk(st.expr ?? st, nested));
          for (const [k, v] of s.group?.lhs ?? []) extra.push(this.walk(k, nested), this.walk(v, nested));
          i++;
          break;
        }
      }
    }
    // Steps past the rooted prefix read inside it (covered by the prefix) or, through `$$` or variables, elsewhere.
    for (; i < steps.length; i++) extra.push(this.walk(steps[i]!, nested));
    if (node.group) for (const [k, v] of node.group.lhs ?? []) extra.push(this.walk(k, nested), this.walk(v, nested));
    if (base) return union(base, ...extra);
    if (!rooted) return union(...extra);
    if (prefix.length === 0) return union(whole(), ...extra); // `$`, `$$`, `$.*`
    return union({ paths: new Set([prefix.join('.')]), whole: false }, ...extra);
  }

  call(node: Node, scope: Scope): Reads {
    const proc = node.procedure;
    const args = node.arguments ?? [];
    const argReads = args.map((a) => this.walk(a, scope));
    if (proc?.type !== 'variable') return union(this.walk(proc, scope), ...argReads);
    const name = String(proc.value);
    // A name the expression binds may be the built-in or not, depending on where it is called: both count.
    const user = this.vars.bound.has(name);
    if (!user && VALUELESS.has(name)) return none();
    const out = user ? [this.vars.reads.get(name) ?? none(), ...argReads] : argReads;
    if (name === 'eval' || (scope.atRoot && CONTEXT_FIRST.get(name) === args.length)) return union(whole(), ...out);
    // `$lookup(obj, "key")` with a literal key reads that key only.
    if (!user && name === 'lookup' && args.length === 2 && args[1]!.type === 'string') {
      const key = String(args[1]!.value);
      const r = none();
      if (argReads[0]!.whole) r.paths.add(key);
      for (const p of argReads[0]!.paths) r.paths.add(`${p}.${key}`);
      return r;
    }
    return union(...out);
  }

  walk(node: Node | undefined, scope: Scope): Reads {
    if (!node) return none();
    switch (node.type) {
      case 'string':
      case 'number':
      case 'value':
      case 'regex':
      case 'operator':
        return none();
      case 'name':
        return scope.atRoot ? { paths: new Set([String(node.value)]), whole: false } : none();
      case 'path':
        return this.path(node, scope);
      case 'variable': {
        if (node.value === '') return scope.atRoot ? whole() : none();
        if (node.value === '$') return whole();
        return this.variable(String(node.value));
      }
      case 'wildcard':
      case 'descendant':
        return scope.atRoot ? whole() : none();
      case 'function':
      case 'partial':
        return this.call(node, scope);
      case 'lambda':
        // The body runs against the context where the lambda was defined; a call's reads include its arguments.
        return this.walk(node.body, scope);
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

/** The fields `expression` reads; throws the JSONata syntax error of an invalid expression. */
export function jsonataReads(expression: string): JsonataReads {
  const ast = jsonata(expression).ast() as unknown as Node;
  // `%` climbs back to a parent, up to the record itself, from any depth.
  if (climbs(ast)) return { paths: new Set(), whole: true };
  const vars: Vars = { bound: boundNames(ast), reads: new Map(), changed: true };
  const walker = new Walker(vars);
  let r = none();
  // Each pass can only add reads to a variable, and there are finitely many paths: this ends.
  while (vars.changed) {
    vars.changed = false;
    r = walker.walk(ast, { atRoot: true });
  }
  return { paths: r.paths, whole: r.whole };
}

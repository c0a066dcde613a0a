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
  readonly vars: ReadonlyMap<string, Reads>;
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
 * at the root read the record. `$eval` evaluates a text against the context, so it may read any field.
 */
const CONTEXT_FIRST: ReadonlyMap<string, number> = new Map([
  ['string', 0],
  ['boolean', 0],
  ['not', 0],
  ['keys', 0],
  ['spread', 0],
  ['lookup', 1],
  ['each', 1],
  ['sift', 1],
]);

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

function walkPath(node: Node, scope: Scope): Reads {
  const steps = node.steps ?? [];
  const extra: Reads[] = [];
  const nested: Scope = { atRoot: false, vars: scope.vars };
  let i = 0;
  let rooted = scope.atRoot;
  let base: Reads | undefined;
  const first = steps[0];
  if (first?.type === 'variable') {
    i = 1;
    if (first.value === '$') rooted = true; // `$$`: the input record, wherever it is used
    else if (first.value === '') rooted = scope.atRoot; // `$`: the current context
    else {
      base = scope.vars.get(String(first.value)) ?? none();
      rooted = false;
    }
    for (const s of first.stages ?? []) extra.push(walk(s.expr ?? s, nested));
  }
  const prefix: string[] = [];
  if (rooted) {
    for (; i < steps.length; i++) {
      const s = steps[i]!;
      if (s.type !== 'name') break;
      prefix.push(String(s.value));
      const nestedParts = (s.stages?.length ?? 0) > 0 || (s.predicate?.length ?? 0) > 0 || s.group !== undefined || s.focus !== undefined || s.index !== undefined;
      if (nestedParts) {
        for (const st of [...(s.stages ?? []), ...(s.predicate ?? [])]) extra.push(walk(st.expr ?? st, nested));
        for (const [k, v] of s.group?.lhs ?? []) extra.push(walk(k, nested), walk(v, nested));
        i++;
        break;
      }
    }
  }
  // Steps past the rooted prefix read inside it (covered by the prefix) or, through `$$` or variables, elsewhere.
  for (; i < steps.length; i++) extra.push(walk(steps[i]!, nested));
  if (node.group) for (const [k, v] of node.group.lhs ?? []) extra.push(walk(k, nested), walk(v, nested));
  if (base) return union(base, ...extra);
  if (!rooted) return union(...extra);
  if (prefix.length === 0) return union(whole(), ...extra); // `$`, `$$`, `$.*`
  return union({ paths: new Set([prefix.join('.')]), whole: false }, ...extra);
}

function walkCall(node: Node, scope: Scope): Reads {
  const proc = node.procedure;
  const args = node.arguments ?? [];
  const name = proc?.type === 'variable' ? String(proc.value) : undefined;
  if (name !== undefined && VALUELESS.has(name) && !scope.vars.has(name)) return none();
  const builtin = name !== undefined && !scope.vars.has(name);
  if (builtin && scope.atRoot && (name === 'eval' || CONTEXT_FIRST.get(name) === args.length)) return union(whole(), ...args.map((a) => walk(a, scope)));
  // `$lookup(obj, "key")` with a literal key reads that key only.
  if (name === 'lookup' && !scope.vars.has(name) && args.length === 2 && args[1]!.type === 'string') {
    const obj = walk(args[0]!, scope);
    const key = String(args[1]!.value);
    const out = none();
    if (obj.whole) out.paths.add(key);
    for (const p of obj.paths) out.paths.add(`${p}.${key}`);
    return out;
  }
  const procReads = proc ? (name !== undefined ? (scope.vars.get(name) ?? none()) : walk(proc, scope)) : none();
  return union(procReads, ...args.map((a) => walk(a, scope)));
}

function walkBlock(node: Node, scope: Scope): Reads {
  const vars = new Map(scope.vars);
  let last = none();
  for (const e of node.expressions ?? []) {
    const inner: Scope = { atRoot: scope.atRoot, vars };
    if (e.type === 'bind' && isNode(e.lhs) && e.rhs) {
      const r = walk(e.rhs, inner);
      vars.set(String(e.lhs.value), r);
      last = r;
    } else last = walk(e, inner);
  }
  return last;
}

function walk(node: Node | undefined, scope: Scope): Reads {
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
      // `%` climbs back to a parent, up to the record itself.
      if (scope.atRoot && (node.steps ?? []).some((step) => step.type === 'parent')) return union(whole(), walkPath(node, scope));
      return walkPath(node, scope);
    case 'variable': {
      if (node.value === '') return scope.atRoot ? whole() : none();
      if (node.value === '$') return whole();
      return scope.vars.get(String(node.value)) ?? none();
    }
    case 'wildcard':
    case 'descendant':
      return scope.atRoot ? whole() : none();
    case 'function':
    case 'partial':
      return walkCall(node, scope);
    case 'lambda': {
      // Parameters hold what the call passes, and the call's reads include its arguments; the body adds its free reads.
      const vars = new Map(scope.vars);
      for (const a of node.arguments ?? []) vars.set(String(a.value), none());
      return walk(node.body, { atRoot: scope.atRoot, vars });
    }
    case 'block':
      return walkBlock(node, scope);
    case 'bind':
      return walk(node.rhs, scope);
    case 'unary':
      if (node.value === '{' && Array.isArray(node.lhs)) return union(...(node.lhs as [Node, Node][]).flatMap(([k, v]) => [walk(k, scope), walk(v, scope)]));
      if (node.value === '[') return union(...(node.expressions ?? []).map((e) => walk(e, scope)));
      return union(...children(node).map((c) => walk(c, scope)));
    default:
      // binary, condition, apply (~>), sort, transform, filter...: every operand can reach the result.
      return union(...children(node).map((c) => walk(c, scope)));
  }
}

/** The fields `expression` reads; throws the JSONata syntax error of an invalid expression. */
export function jsonataReads(expression: string): JsonataReads {
  const ast = jsonata(expression).ast() as unknown as Node;
  const r = walk(ast, { atRoot: true, vars: new Map() });
  return { paths: r.paths, whole: r.whole };
}

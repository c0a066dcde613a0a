/** The functions a JSONata expression calls that neither JSONata nor the expression defines. */

/**
 * JSONata's function library (https://docs.jsonata.org/overview, "Function library"; the names jsonata 2.x binds),
 * with `$now` and `$millis`, which it binds for each evaluation.
 */
const BUILT_IN = new Set(
  (
    'sum count max min average string substring substringBefore substringAfter lowercase uppercase length trim pad match contains replace split join ' +
    'formatNumber formatBase formatInteger parseInteger number floor ceil round abs sqrt power random boolean not map zip filter single reduce sift ' +
    'keys lookup append exists spread merge reverse each error assert type sort shuffle distinct base64encode base64decode encodeUrlComponent ' +
    'encodeUrl decodeUrlComponent decodeUrl eval toMillis fromMillis clone now millis'
  ).split(' '),
);

interface Node {
  readonly type?: string;
  readonly value?: unknown;
  readonly procedure?: Node;
  readonly lhs?: Node;
  readonly arguments?: readonly Node[];
}

/** Names called as `$name(...)` that nothing defines: a call of one fails on every record. */
export function unknownFunctions(ast: unknown): string[] {
  const bound = new Set<string>();
  const called = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (!value || typeof value !== 'object') return;
    const node = value as Node;
    // `$f := ...` and a lambda's parameters bind names anywhere in the expression (a check by name, not by scope).
    if (node.type === 'bind' && node.lhs?.type === 'variable') bound.add(String(node.lhs.value));
    if (node.type === 'lambda') for (const a of node.arguments ?? []) if (a.type === 'variable') bound.add(String(a.value));
    if ((node.type === 'function' || node.type === 'partial') && node.procedure?.type === 'variable') called.add(String(node.procedure.value));
    for (const child of Object.values(node)) walk(child);
  };
  walk(ast);
  return [...called].filter((name) => !BUILT_IN.has(name) && !bound.has(name)).map((name) => `$${name}`);
}

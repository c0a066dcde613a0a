import fc from 'fast-check';
import jsonata from 'jsonata';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileDirect, FALLBACK, loadBuiltins } from '../../../../functions/core/transform/jsonata-direct';

const DEPTH = 1000;

type Outcome = { value: unknown } | { error: string };

async function byJsonata(source: string, record: Record<string, unknown>): Promise<Outcome> {
  try {
    return { value: await jsonata(source, { stack: DEPTH }).evaluate(record) };
  } catch (err) {
    return { error: String((err as { code?: string }).code ?? err) };
  }
}

/** Same value: numbers by Object.is (NaN, -0), arrays by their items (a jsonata sequence is an array with a flag). */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

// ---------- generated records: missing fields, nulls, arrays, numbers as strings, nested objects ----------

const FIELDS = ['a', 'b', 'n', 's', 'arr', 'obj', 'flag'];
const text = fc.oneof(
  fc.constantFrom('', ' ', 'x', 'Ada', '  Ada  Lovelace ', 'ada@kernel.dev', '@', '12', '-3.5', '0x1F', '1e3', 'true', 'null', 'ÄÖ ß', '😀x', 'a\tb\nc'),
  fc.string({ maxLength: 6 }),
);
const num = fc.oneof(fc.constantFrom(0, -0, 1, -1, 2, 0.1, 0.2, 2.5, 1e21, 123456789.123, -7), fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true, noDefaultInfinity: true }));
const scalar = fc.oneof(text, num, fc.boolean(), fc.constant(null));
const nested = fc.dictionary(fc.constantFrom('x', 'y', 'z'), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.constantFrom('x', 'z'), scalar, { maxKeys: 2 })), { maxKeys: 3 });
const fieldValue = fc.oneof({ weight: 6, arbitrary: scalar }, { weight: 2, arbitrary: fc.array(scalar, { maxLength: 3 }) }, { weight: 2, arbitrary: nested }, { weight: 1, arbitrary: fc.array(nested, { maxLength: 2 }) });
const record = fc.dictionary(fc.constantFrom(...FIELDS), fieldValue, { maxKeys: FIELDS.length });

// ---------- generated expressions of the supported subset ----------

const PATHS = ['a', 'b', 'n', 's', 'arr', 'obj', 'flag', 'missing', 'obj.x', 'obj.y', 'obj.x.z', 'a.x', 'arr.x', '`obj`.`z`'];
const STRINGS = ["''", "' '", "'@'", "'x'", "'12'", "'Ada'", '"a b"', "'0x1F'", "' 3.5 '"];
const NUMBERS = ['0', '1', '-1', '2.5', '0.1', '1e21', '3'];
const FUNCTIONS: [string, number[]][] = [
  ['$string', [0, 1, 2]],
  ['$boolean', [1]],
  ['$not', [1]],
  ['$exists', [1]],
  ['$uppercase', [0, 1]],
  ['$lowercase', [1]],
  ['$trim', [0, 1]],
  ['$length', [1]],
  ['$substring', [2, 3]],
  ['$substringBefore', [2]],
  ['$substringAfter', [1, 2]],
  ['$join', [1, 2]],
  ['$number', [1]],
  ['$abs', [1]],
  ['$floor', [1]],
  ['$ceil', [1]],
  ['$round', [1, 2]],
];
const BINARY = ['&', '+', '-', '*', '/', '%', '=', '!=', '<', '<=', '>', '>=', 'and', 'or'];

const { expr } = fc.letrec<{ expr: string; leaf: string; node: string }>((tie) => ({
  leaf: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PATHS) }, { weight: 2, arbitrary: fc.constantFrom(...STRINGS) }, { weight: 2, arbitrary: fc.constantFrom(...NUMBERS) }, fc.constantFrom('true', 'false', 'null')),
  node: fc.oneof(
    fc.tuple(tie('expr'), fc.constantFrom(...BINARY), tie('expr')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc.tuple(fc.constantFrom(...FUNCTIONS), fc.array(tie('expr'), { minLength: 3, maxLength: 3 })).chain(([[name, arities], args]) =>
      fc.constantFrom(...arities).map((n) => `${name}(${args.slice(0, n).join(', ')})`),
    ),
    fc.tuple(tie('expr'), tie('expr'), fc.option(tie('expr'), { nil: undefined })).map(([c, t, e]) => (e === undefined ? `(${c} ? ${t})` : `(${c} ? ${t} : ${e})`)),
    tie('expr').map((e) => `-${e}`),
    fc.array(tie('expr'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
  ),
  expr: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('node')),
}));

describe('direct JSONata evaluation', () => {
  beforeAll(async () => {
    await loadBuiltins();
  });

  it('gives jsonata\'s result for generated expressions and records, or leaves the expression to jsonata', async () => {
    // Prepare
    let direct = 0;
    let runs = 0;
    // Act / Assess
    await fc.assert(
      fc.asyncProperty(expr, fc.array(record, { minLength: 1, maxLength: 4 }), async (source, records) => {
        const fast = compileDirect(jsonata(source, { stack: DEPTH }), DEPTH);
        expect(fast, source).toBeDefined();
        for (const r of records) {
          runs++;
          const got = fast!(r);
          if (got === FALLBACK) continue;
          direct++;
          const want = await byJsonata(source, r);
          if (!('value' in want) || !same(got, want.value)) {
            expect.fail(`${source} on ${JSON.stringify(r)}: direct ${JSON.stringify(got)}, jsonata ${JSON.stringify(want)}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
    // Most evaluations stay direct, so the property says something about them.
    expect(direct / runs).toBeGreaterThan(0.5);
  });

  it('evaluates the usual compute expressions directly', async () => {
    // Prepare
    const record = { firstName: ' Ada ', lastName: 'Lovelace', email: 'Ada@Kernel.dev', price: '12.5', qty: 3, address: { city: 'London' }, tags: ['a', 'b'] };
    const cases = [
      "$trim(firstName & ' ' & lastName)",
      "$lowercase($substringAfter(email, '@'))",
      '$number(price) * qty',
      "qty > 2 ? 'bulk' : 'single'",
      "$uppercase(address.city) & '-' & $string(qty)",
      "$join(tags, ',')",
      "$exists(middleName) and $length(lastName) > 3",
    ];
    for (const source of cases) {
      // Act
      const fast = compileDirect(jsonata(source), DEPTH);
      const got = fast?.(record);
      // Assess
      expect(got, source).not.toBe(FALLBACK);
      expect(got, source).toEqual(await jsonata(source).evaluate(record));
    }
  });

  it('leaves expressions outside the subset to jsonata', () => {
    // Prepare
    const outside = ['$', '$$.a', 'a[0]', 'a.b[x = 1]', '$count(a)', '$map(a, function($v) { $v })', '($x := 1; $x)', 'a ~> $uppercase', '{"x": a}', '*', 'a in [1, 2]', '[1..3]', '$now()', "$contains(a, 'x')", 'a^(b)', '**.x', 'a#$i'];
    for (const source of outside) {
      // Act / Assess
      expect(compileDirect(jsonata(source), DEPTH), source).toBeUndefined();
    }
  });

  it('leaves values that jsonata refuses, with its error, to jsonata', async () => {
    // Prepare
    const cases: [string, Record<string, unknown>][] = [
      ['a + 1', { a: '1' }],
      ['-a', { a: 'x' }],
      ['a < b', { a: 1, b: 'x' }],
      ['$uppercase(a)', { a: 5 }],
      ['$number(a)', { a: 'abc' }],
      ['a.b', { a: [{ b: 1 }, { b: 2 }] }],
      ['a = b', { a: { x: 1 }, b: { x: 1 } }],
    ];
    for (const [source, r] of cases) {
      // Act / Assess
      expect(compileDirect(jsonata(source), DEPTH)!(r), source).toBe(FALLBACK);
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { carryProblems, exactNumber, InexactNumber, MAX_RECORD_DEPTH } from '../../../functions/core/json-safety';

/** The plain walk, a path text per value: the reference the walk under test must agree with. */
function reference(record: unknown, limit = 5): string[] {
  const problems: string[] = [];
  const numberProblem = (n: number) => {
    if (!Number.isFinite(n)) return 'is not finite';
    if (Number.isInteger(n) && !Number.isSafeInteger(n) && Math.abs(n) < 1e126) return 'is beyond 2^53, where JSON numbers lose digits; send it as a string';
    const abs = Math.abs(n);
    if (abs !== 0 && (abs < 1e-130 || abs >= 1e126)) return 'is outside the range DynamoDB stores (1e-130 to 1e126)';
    return undefined;
  };
  const walk = (v: unknown, path: string, depth: number): void => {
    if (problems.length >= limit) return;
    if (v instanceof InexactNumber) return void problems.push(`number at ${path} ${v.why}; send it as a string`);
    if (typeof v === 'number') {
      const why = numberProblem(v);
      if (why) problems.push(`number at ${path} ${why}`);
      return;
    }
    if (typeof v === 'bigint') return void problems.push(`number at ${path} is an integer beyond 2^53 that a JSON number would round; send it as a string`);
    if (v === null || typeof v !== 'object') return;
    if (depth > MAX_RECORD_DEPTH) return void problems.push(`${path} nests deeper than ${MAX_RECORD_DEPTH} levels, the deepest record syncline stores`);
    if (Array.isArray(v)) return void v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    for (const [k, x] of Object.entries(v)) {
      if (k === '' || k === '__proto__') {
        problems.push(k === '' ? `${path} has a field with an empty name, which DynamoDB cannot store` : `${path} has a field named __proto__, which the DynamoDB marshaller cannot store`);
        continue;
      }
      if (Buffer.byteLength(k, 'utf8') > 32 * 1024) {
        problems.push(`${path} has a field whose name is over 32 KB, longer than DynamoDB stores`);
        continue;
      }
      if (k === 'constructor' && x !== null && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string') {
        problems.push(`${path}.constructor is an object with a name, which the DynamoDB marshaller mistakes for a type`);
        continue;
      }
      walk(x, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, depth + 1);
    }
  };
  walk(record, '$', 1);
  return problems;
}

// Two names about the limit: 32 KB in UTF-8 (three bytes a character) is in, one byte more is not.
const KEYS = ['a', 'b c', '', '__proto__', 'constructor', 'name', '0', '$x', '€'.repeat(10_922) + 'ab', '€'.repeat(10_922) + 'abc'];
const leaf = fc.oneof(
  fc.constantFrom<unknown>(1, 2 ** 53, 1e200, 1e-200, Infinity, NaN, -0, 12n, 'x', null, true, new InexactNumber('12345678901234567890', 'is an integer beyond 2^53 that a JSON number would round')),
  fc.double(),
);
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), tie('value')), { maxLength: 4 }).map((pairs) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of pairs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
  ),
}));

/** `n` levels of `{ a: ... }` around a value. */
const nest = (n: number, v: unknown): unknown => (n === 0 ? v : { a: nest(n - 1, v) });

describe('carryProblems', () => {
  it('finds the same problems, in the same order and words, as a walk that builds every path', () => {
    // Prepare / Act / Assess
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 6 }), (v, limit) => {
        expect(carryProblems(v, limit)).toEqual(reference(v, limit));
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a field name over 32 KB in UTF-8, by its path and never its name', () => {
    const long = 'n'.repeat(32 * 1024 + 1);
    expect(carryProblems({ a: { [long]: 1, ['€'.repeat(10_923)]: 2, ['n'.repeat(32 * 1024)]: 3 } })).toEqual([
      '$.a has a field whose name is over 32 KB, longer than DynamoDB stores',
      '$.a has a field whose name is over 32 KB, longer than DynamoDB stores',
    ]);
  });

  it('names the path of a problem deep in a record', () => {
    // Prepare
    const record = { a: [{ 'b c': { x: 2 ** 60 } }], deep: nest(MAX_RECORD_DEPTH, 1) };
    // Act
    const problems = carryProblems(record);
    // Assess
    expect(problems).toEqual(reference(record));
    expect(problems[0]).toBe('number at $.a[0]["b c"].x is beyond 2^53, where JSON numbers lose digits; send it as a string');
  });
});

describe('exactNumber', () => {
  it('reads up to 17 significant digits as the double they name (printf %.17g), and keeps more as text', () => {
    // Prepare: what Jansson or PostgreSQL with extra_float_digits=3 write, then texts no double holds.
    const named = ['0.10000000000000001', '19.989999999999998', '3.1415926535897931', '1.7976931348623157e308'];
    const beyond = ['0.123456789012345678', '123456789012345678.5', '12345678901234567890', '1e309', '1e-400'];

    // Act
    const read = [...named, ...beyond].map((t) => exactNumber(t));

    // Assess
    expect(read.slice(0, named.length)).toEqual(named.map((t) => JSON.parse(t)));
    expect(read.slice(named.length).map((v) => v instanceof InexactNumber && v.text)).toEqual(beyond);
  });
});

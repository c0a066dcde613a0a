import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../../functions/core/envelope';
import { sameJson } from '../../../../functions/core/merge/clock';

/** canonicalJson, or a marker when it throws (a bigint). */
const canonical = (v: unknown): string | undefined => {
  try {
    return canonicalJson(v);
  } catch {
    return '(throws)';
  }
};

// Values JSON writes as they are, values it drops or rewrites, and keys it treats specially.
const plain = fc.constantFrom<unknown>(0, -0, 1, 2.5, null, '', 'a', '1', true, false);
const odd = fc.constantFrom<unknown>(undefined, NaN, Infinity, 1n, new Date(0), () => 1, Symbol('s'));
const key = fc.constantFrom('a', 'b', '1', '10', '9', '__proto__', 'toJSON');

function values(leaf: fc.Arbitrary<unknown>, keys: fc.Arbitrary<string>, holes = false): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      leaf,
      holes ? fc.sparseArray(tie('v'), { maxLength: 3 }) : fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(keys, tie('v'), { maxKeys: 3 }),
    ),
  })).v;
}

describe('sameJson', () => {
  it('answers, for plain JSON values, whether their canonical JSON is the same', () => {
    const json = values(plain, fc.constantFrom('a', 'b', '1', '10', '9'));
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(sameJson(a, b)).toBe(canonicalJson(a) === canonicalJson(b));
        expect(sameJson(a, JSON.parse(canonicalJson(a)))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('never contradicts canonicalJson, and leaves to it what JSON drops or rewrites', () => {
    const any = values(fc.oneof(plain, odd), key, true);
    fc.assert(
      fc.property(any, any, (a, b) => {
        const same = sameJson(a, b);
        if (same !== undefined && canonical(a) !== '(throws)' && canonical(b) !== '(throws)') expect(same).toBe(canonical(a) === canonical(b));
      }),
      { numRuns: 20000 },
    );
    expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBeUndefined();
    expect(sameJson([undefined], [null])).toBeUndefined();
    expect(sameJson({ toJSON: () => 1 }, 1)).toBeUndefined();
  });
});

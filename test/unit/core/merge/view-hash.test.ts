import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash } from '../../../../functions/core/envelope';
import { viewHash } from '../../../../functions/core/merge/view-hash';

// Few keys, so shapes repeat in many orders (the sorted order is remembered per shape).
const KEYS = ['a', 'b', 'B', '10', '9', '', '__proto__', 'toJSON', 'é', 'a b'];
const leaf = fc.oneof(fc.constantFrom<unknown>(undefined, null, true, 0, -0, 1.5, NaN, Infinity, 'x', ''), fc.string({ maxLength: 4 }), fc.integer());
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), tie('value')), { maxLength: 5 }).map((pairs) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of pairs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
  ),
}));
const data = fc.oneof(fc.constant(null), fc.dictionary(fc.constantFrom(...KEYS.filter((k) => k !== '__proto__')), value, { maxKeys: 6 }));

describe('viewHash', () => {
  it('is contentHash, whatever the keys, their order and the values', () => {
    // Prepare / Act / Assess
    fc.assert(
      fc.property(fc.array(data, { minLength: 1, maxLength: 6 }), (all) => {
        for (const d of all) expect(viewHash(d)).toBe(contentHash(d));
      }),
      { numRuns: 3000 },
    );
  });

  it('hashes records of one shape in any key order alike', () => {
    // Prepare
    const one = { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null }, c: 'x' };
    const other = { c: 'x', a: { x: null, y: [1, { c: 3, d: 2 }] }, b: 1 };
    // Act
    const hashes = [viewHash(one), viewHash(other), viewHash(one)];
    // Assess
    expect(new Set(hashes).size).toBe(1);
    expect(hashes[0]).toBe(contentHash(one));
  });
});

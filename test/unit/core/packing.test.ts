import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packBody, packItems, unpackBody } from '../../../functions/core/packing';

describe('packs of step messages', () => {
  it('gives back exactly the bodies packed, whatever they hold', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 12 }), (bodies) => {
        expect(unpackBody(packBody(bodies))).toEqual(bodies);
      }),
      { numRuns: 300 },
    );
  });

  it('packs at most ten messages, keeps a pack under the size given, and sends a lone message as it is', () => {
    // Prepare
    const items = Array.from({ length: 23 }, (_, i) => ({ id: `m${i}`, body: JSON.stringify({ i, pad: 'x'.repeat(i === 20 ? 6_000 : 10) }) }));

    // Act
    const packs = packItems(items, 10, 6_000);

    // Assess
    expect(packs.map((p) => p.ids.length)).toEqual([10, 10, 1, 2]);
    expect(packs.flatMap((p) => p.ids)).toEqual(items.map((i) => i.id));
    expect(packs[2]!.body).toBe(items[20]!.body);
    for (const p of packs.filter((x) => x.ids.length > 1)) expect(p.body.length).toBeLessThanOrEqual(6_000);
    expect(unpackBody(packs[3]!.body)).toEqual([items[21]!.body, items[22]!.body]);
  });

  it('reads anything else, a damaged pack included, as a single message', () => {
    expect(unpackBody('{"v":1,"id":"e1"}')).toBeUndefined();
    expect(unpackBody(packBody(['{"a":1}', '{"b":2}']).slice(0, -1))).toBeUndefined();
    expect(unpackBody('{"synclinePack":1,"lengths":[-1]}\n')).toBeUndefined();
    expect(unpackBody('{"synclinePack":1,"lengths":[1,2]')).toBeUndefined();
  });
});

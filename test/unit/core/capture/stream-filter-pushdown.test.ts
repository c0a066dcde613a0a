import { describe, expect, it } from 'vitest';
import { MAX_FILTERS, MAX_PATTERN_CHARS, pushdownFilter } from '../../../../functions/core/capture/stream-filter-pushdown';

const REMOVE = { eventName: ['REMOVE'] };

describe('pushdownFilter', () => {
  it('pushes nothing down without a filter', () => {
    expect(pushdownFilter(undefined)).toEqual({ filters: [], pushed: [], handlerOnly: [] });
  });

  it('maps string matchers to S, SS and lists of S, and lets deletes through', () => {
    const { filters, pushed } = pushdownFilter({ status: ['active', { prefix: 'vip-' }] });
    const m = ['active', { prefix: 'vip-' }];
    expect(pushed).toEqual(['status']);
    expect(filters).toEqual([
      { dynamodb: { NewImage: { status: { S: m } } } },
      { dynamodb: { NewImage: { status: { SS: m } } } },
      { dynamodb: { NewImage: { status: { L: { S: m } } } } },
      REMOVE,
    ]);
  });

  it('maps booleans to BOOL and combines two fields within the filter quota', () => {
    const { filters, pushed } = pushdownFilter({ vip: [true], deleted: [false] });
    expect(pushed).toEqual(['vip', 'deleted']);
    expect(filters).toHaveLength(5);
    expect(filters).toContainEqual({ dynamodb: { NewImage: { vip: { BOOL: [true] }, deleted: { L: { BOOL: [false] } } } } });
    expect(filters.length).toBeLessThanOrEqual(MAX_FILTERS);
  });

  it('maps integers to N strings and leaves decimals and numeric ranges to the handler', () => {
    expect(pushdownFilter({ tier: [2] }).filters[0]).toEqual({ dynamodb: { NewImage: { tier: { N: ['2'] } } } });
    const r = pushdownFilter({ score: [{ numeric: ['>', 1] }], ratio: [0.5] });
    expect(r.filters).toEqual([]);
    expect(r.handlerOnly.map((h) => h.path)).toEqual(['score', 'ratio']);
  });

  it('leaves anything-but, exists, wildcard, nested maps and $or to the handler, pushing the rest', () => {
    const r = pushdownFilter({
      a: [{ 'anything-but': 'x' }],
      b: [{ exists: true }],
      c: [{ wildcard: 'a*' }],
      d: { e: ['x'] },
      $or: [{ f: ['1'] }, { g: ['2'] }],
      status: ['active'],
    });
    expect(r.pushed).toEqual(['status']);
    expect(r.handlerOnly.map((h) => h.path)).toEqual(['a', 'b', 'c', 'd', '$or']);
  });

  it('does not push a field down when that would exceed the filter quota', () => {
    const r = pushdownFilter({ a: ['1'], b: ['2'] });
    expect(r.pushed).toEqual(['a']);
    expect(r.handlerOnly).toEqual([{ path: 'b', reason: expect.stringMatching(/more than 5 filters/) }]);
  });

  it('leaves to the handler a field whose pattern Lambda would refuse as longer than 4,096 characters, pushing the rest', () => {
    // Prepare
    const many = Array.from({ length: 300 }, (_, i) => `status-value-${i}`);

    // Act
    const r = pushdownFilter({ status: many, kind: ['person'] });

    // Assess
    expect(r.pushed).toEqual(['kind']);
    expect(r.handlerOnly).toEqual([{ path: 'status', reason: expect.stringMatching(/longer than the 4096 characters/) }]);
    for (const f of r.filters) expect(JSON.stringify(f).length).toBeLessThanOrEqual(MAX_PATTERN_CHARS);
  });
});

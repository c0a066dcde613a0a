import { afterEach, describe, expect, it } from 'vitest';
import { getIn, setIn, splitPath } from '../../../../functions/core/transform/paths';
import { compileReshape } from '../../../../functions/core/transform/reshape';

describe('field paths through __proto__ and inherited names', () => {
  afterEach(() => {
    delete (Object.prototype as Record<string, unknown>).polluted;
  });

  it('never write into a prototype: a __proto__ segment becomes an own field of that name', () => {
    // Act: a rename whose paths overlap runs with every container owned (owned === null), as the review found.
    const reshaped = compileReshape({ rename: { a: 'a.b', c: '__proto__.polluted' } })({ a: 1, c: 'yes' });
    const record: Record<string, unknown> = {};
    setIn(record, splitPath('x.__proto__.polluted'), 'yes', null);

    // Assess
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(reshaped.record, '__proto__')).toBe(true);
    expect(getIn(reshaped.record, splitPath('__proto__.polluted'))).toBe('yes');
    expect(getIn(record, splitPath('x.__proto__.polluted'))).toBe('yes');
    expect(Object.getPrototypeOf(record.x)).toBe(Object.prototype);
  });

  it('read only own fields: neither the prototype nor an inherited method is a field', () => {
    expect(getIn({ a: {} }, splitPath('a.__proto__'))).toBeUndefined();
    expect(getIn({ a: 1 }, splitPath('constructor'))).toBeUndefined();
    expect(getIn({ a: { toString: 'own' } }, splitPath('a.toString'))).toBe('own');
  });
});

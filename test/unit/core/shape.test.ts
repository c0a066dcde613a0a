import { describe, expect, it } from 'vitest';
import { array, base64, boolean, isoDateTime, issueLines, literal, map, number, object, oneOf, optional, record, refine, safeParse, string, union, unknown, withDefault } from '../../../functions/core/shape';

const lines = (shape: Parameters<typeof safeParse>[0], value: unknown) => {
  const r = safeParse(shape, value);
  return r.success ? [] : issueLines(r.issues);
};

describe('shape validators', () => {
  it('word type and range problems as zod 4 does, by path', () => {
    // Prepare
    const shape = object({ id: string({ min: 1 }), n: number({ int: true, min: 0, max: 5 }), op: oneOf(['upsert', 'delete']), v: literal(1), tags: array(string()) });

    // Act
    const problems = lines(shape, { id: '', n: 1.5, op: 'x', v: 2, tags: ['a', 3] });

    // Assess
    expect(problems).toEqual([
      'id: Too small: expected string to have >=1 characters',
      'n: Invalid input: expected int, received number',
      'op: Invalid option: expected one of "upsert"|"delete"',
      'v: Invalid input: expected 1',
      'tags.1: Invalid input: expected string, received number',
    ]);
    expect(lines(shape, null)).toEqual(['(root): Invalid input: expected object, received null']);
    expect(lines(number(), Number.NaN)).toEqual(['(root): Invalid input: expected number, received NaN']);
  });

  it('strip, refuse or keep unknown keys, and apply defaults, trims and conversions', () => {
    // Prepare
    const fields = { by: optional(string({ trim: true, min: 1 })), dry: withDefault(boolean(), false) };

    // Act
    const stripped = safeParse(object(fields), { by: ' ana ', extra: 1 });
    const loose = safeParse(object(fields, 'loose'), { extra: 1 });
    const strict = lines(object(fields, 'strict'), { x: 1, y: 2 });
    const time = safeParse(union(number({ int: true, min: 0 }), map(isoDateTime(), (s) => Date.parse(s))), '2026-01-01T10:00:00+01:00');

    // Assess
    expect(stripped).toEqual({ success: true, data: { by: 'ana', dry: false } });
    expect(loose).toEqual({ success: true, data: { extra: 1, dry: false } });
    expect(strict).toEqual(['(root): Unrecognized keys: "x", "y"']);
    expect(time).toEqual({ success: true, data: Date.parse('2026-01-01T09:00:00Z') });
  });

  it('run a refinement only when the types are right, and pick the union branch that failed only its checks', () => {
    // Prepare
    const exactlyOne = refine(object({ a: optional(number()), b: unknown() }, 'strict'), (o) => (o.a === undefined) !== (o.b === undefined), 'give a or b');
    const key = union(object({ S: string() }, 'strict'), object({ N: string({ pattern: /^\d+$/, patternMessage: 'not a number' }) }, 'strict'), object({ B: base64() }, 'strict'));

    // Act, Assess
    expect(lines(exactlyOne, {})).toEqual(['(root): give a or b']);
    expect(lines(exactlyOne, { a: 'x' })).toEqual(['a: Invalid input: expected number, received string']);
    expect(lines(exactlyOne, { z: 1 })).toEqual(['(root): Unrecognized key: "z"', '(root): give a or b']);
    expect(lines(record(key, string({ min: 1 })), { k: { N: 'x' } })).toEqual(['k.N: not a number']);
    expect(lines(record(key, string({ min: 1 })), { k: { X: 'x' }, '': { S: 'a' } })).toEqual(['k: Invalid input', ': Invalid key in record']);
    expect(lines(base64(), 'YQ')).toEqual(['(root): Invalid base64-encoded string']);
  });
});

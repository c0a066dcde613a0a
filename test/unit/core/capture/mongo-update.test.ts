import { describe, expect, it } from 'vitest';
import { applyUpdate, reachesInside } from '../../../../functions/core/capture/mongo-update';

const update = (updatedFields: Record<string, unknown>, removedFields: string[] = [], truncatedArrays: { field: string; size: number }[] = []) => ({ updatedFields, removedFields, truncatedArrays });

describe('a MongoDB update description applied to the document before it', () => {
  it('sets and removes array elements by index as MongoDB does: $unset leaves null, an index past the end pads with null', () => {
    const before = { _id: 1, tags: ['a', 'b', 'c'] };
    expect(applyUpdate(before, update({ 'tags.5': 'f' }, ['tags.0']))).toEqual({ _id: 1, tags: [null, 'b', 'c', null, null, 'f'] });
    expect(before.tags).toEqual(['a', 'b', 'c']);
  });

  it('names the path when it goes through a value that holds no fields, or through an array by name', () => {
    expect(applyUpdate({ _id: 1, name: 'Anne' }, update({ 'name.first': 'A' }))).toBe('"name.first" goes through name, which holds no fields');
    expect(applyUpdate({ _id: 1, tags: ['a'] }, update({ 'tags.x': 1 }))).toBe('"tags.x" names field "x" of an array');
    expect(applyUpdate({ _id: 1, tags: 'a' }, update({}, [], [{ field: 'tags', size: 0 }]))).toBe('truncatedArrays names "tags", which is not an array in the document before');
  });

  it('takes a field named __proto__ as a field', () => {
    const out = applyUpdate({ _id: 1 }, update({ '__proto__.polluted': true })) as Record<string, unknown>;
    expect(Object.getOwnPropertyNames(out)).toEqual(['_id', '__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('tells an update that reaches inside a field from one of whole top-level fields', () => {
    expect(reachesInside(update({ a: 1 }, ['b']))).toBe(false);
    expect(reachesInside(update({ 'a.b': 1 }))).toBe(true);
    expect(reachesInside(update({}, ['a.0']))).toBe(true);
    expect(reachesInside(update({}, [], [{ field: 'a', size: 1 }]))).toBe(true);
  });
});

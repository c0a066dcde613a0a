import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../../lib/config/check';

/** The README's two-way pair, people-a and people-b, with `transform` on the a-to-b flow. */
const pair = (transform: Record<string, unknown>, bTable = 'people-b') => ({
  flows: [
    { id: 'a-to-b', key: ['id'], sources: [{ id: 'a', type: 'dynamodb-stream', tableName: 'people-a' }], targets: [{ id: 'b', type: 'dynamodb', tableName: bTable }], transform },
    {
      id: 'b-to-a',
      key: ['id'],
      sources: [{ id: 'b', type: 'dynamodb-stream', streamArn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/people-b/stream/2026-01-01T00:00:00.000' }],
      targets: [{ id: 'a', type: 'dynamodb', tableName: 'arn:aws:dynamodb:eu-west-1:123456789012:table/people-a' }],
    },
  ],
});
const problems = (context: unknown) => {
  const check = checkConfig({ context });
  return check.ok ? [] : check.problems;
};

describe('two flows that sync two DynamoDB tables both ways', () => {
  it('are refused when either drops or masks fields, which the write back would put over the item at its source', () => {
    expect(problems(pair({ mask: { phone: 'last4' }, exclude: ['secret'] }))).toEqual([
      expect.stringMatching(/^flow "a-to-b" at \$\.flows\[0\]\.transform: its mask, exclude would reach table "people-a": it writes "people-b", and flow "b-to-a" writes that back to "people-a"/),
    ]);
    expect(problems(pair({ include: ['id', 'name'] }))).toHaveLength(1);
    // One flow that writes the table it reads.
    const itself = { flows: [{ id: 'a-to-a', key: ['id'], sources: [{ id: 'a', type: 'dynamodb-stream', tableName: 'people-a' }], targets: [{ id: 'a', type: 'dynamodb', tableName: 'people-a' }], transform: { mask: { phone: 'last4' } } }] };
    expect(problems(itself)).toEqual([expect.stringContaining('it writes "people-a", the table it reads')]);
    expect(problems(pair({ detectPii: 'mask' }))).toHaveLength(1);
  });

  it('are taken when they carry records whole, and a one-way flow may mask', () => {
    expect(problems(pair({}))).toEqual([]);
    expect(problems(pair({ filter: { status: ['active'] } }))).toEqual([]);
    expect(problems(pair({ mask: { phone: 'last4' } }, 'people-c'))).toEqual([]);
  });
});

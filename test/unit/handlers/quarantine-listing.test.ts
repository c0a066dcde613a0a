import { describe, expect, it } from 'vitest';
import { MAX_LISTING_BYTES, withinAnswerSize as withinSize } from '../../../functions/handlers/answer-size';
import { withoutRecord } from '../../../functions/handlers/admin-service';
import { quarantineListing } from '../../../functions/handlers/admin-api';
import type { QuarantineItem } from '../../../functions/ports';

const withinAnswerSize = (items: readonly QuarantineItem[]) => withinSize(items, withoutRecord);

const item = (n: number, bytes: number): QuarantineItem => ({
  flow: 'contacts',
  id: `q-${n}`,
  source: 'crm',
  at: 1_000 - n,
  reason: 'schema validation failed',
  errors: ['/age must be number'],
  record: { id: `c-${n}`, notes: 'x'.repeat(bytes) },
  envelope: { v: 1, id: `q-${n}`, flow: 'contacts', source: 'crm', key: '', op: 'upsert', ts: 1_000, seq: `${n}`, lineage: [] },
});

describe('a quarantine listing', () => {
  it('stays within what a function may answer: past 4 MB the items come without their records, saying so', () => {
    // Prepare: 30 records of 300 KB, 9 MB in all (Lambda answers at most 6 MB).
    const items = Array.from({ length: 30 }, (_, n) => item(n, 300 * 1024));

    // Act
    const listed = withinAnswerSize(items);

    // Assess
    expect(Buffer.byteLength(JSON.stringify(JSON.stringify(listed)))).toBeLessThanOrEqual(MAX_LISTING_BYTES);
    expect(listed.map((i) => i.id)).toEqual(items.map((i) => i.id));
    const kept = listed.filter((i) => i.omitted === undefined);
    expect(kept.length).toBe(13);
    expect(kept.every((i, n) => i.record === items[n]!.record)).toBe(true);
    expect(listed.slice(13).every((i) => Object.keys(i.record).length === 0 && /left out of this listing/.test(i.omitted ?? ''))).toBe(true);
  });

  it('counts a record as the function answers it, a JSON string in JSON: quotes and backslashes take twice their size', () => {
    // Prepare: records of 300 K quotes each: 300 KB as they are, about 1.2 MB escaped twice.
    const items = Array.from({ length: 10 }, (_, n) => ({ ...item(n, 0), record: { notes: '"'.repeat(300 * 1024) } }));

    // Act
    const listed = withinAnswerSize(items);

    // Assess: the proxy answer's body stays within the cap, far below Lambda's 6 MB.
    expect(Buffer.byteLength(JSON.stringify({ statusCode: 200, body: JSON.stringify(listed) }))).toBeLessThanOrEqual(MAX_LISTING_BYTES + 1024);
    expect(listed.filter((i) => i.omitted === undefined)).toHaveLength(3);
  });

  it('leaves a listing of small records as it is', () => {
    const items = Array.from({ length: 100 }, (_, n) => item(n, 200));
    expect(withinAnswerSize(items)).toEqual(items);
  });
});

describe('the paging of a quarantine listing (?limit, ?before)', () => {
  it('lists 100 by default, up to 1000, from the item that `before` names on', () => {
    expect(quarantineListing({})).toEqual({ limit: 100 });
    expect(quarantineListing({ limit: '1000', before: '1700000000000:evt:1/2' })).toEqual({ limit: 1000, before: { at: 1_700_000_000_000, id: 'evt:1/2' } });
  });

  it.each([
    [{ limit: '0' }, /^limit must be a whole number from 1 to 1000, got "0"/],
    [{ limit: '1001' }, /^limit must be/],
    [{ limit: '1e3' }, /^limit must be/],
    [{ before: 'q-1' }, /^before must be <at>:<id>/],
    [{ before: '12:' }, /^before must be <at>:<id>/],
  ])('answers 400 for %j', (query, message) => {
    expect(() => quarantineListing(query)).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(message) }));
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStateStore, flowViews } from '../../functions/adapters/dynamodb-state-store';
import { contactsFlow } from '../fixtures/flows';
import type { StoredState } from '../../functions/ports';
import { createStoreTables, integrationClients } from '../support/local-servers';

const clients = integrationClients();
let store: DynamoDbStateStore;

const stateOf = (key: string, version: number, truncateScope?: string, deleted = false): StoredState => ({
  flow: 'cdc',
  key,
  version,
  doc: { s: 'lww', k: key },
  view: { data: deleted ? {} : { id: key }, deleted, clocks: {}, hash: `h${key}` } as unknown as StoredState['view'],
  delivered: {},
  updatedAt: 1,
  ...(truncateScope ? { truncateScope } : {}),
});

beforeAll(async () => {
  const tables = await createStoreTables(clients);
  store = new DynamoDbStateStore({ client: clients.doc, tableName: tables.state, targets: { cdc: ['replica'], other: [] }, views: flowViews([{ ...contactsFlow, id: 'cdc' }, { ...contactsFlow, id: 'other' }]) });
});
afterAll(() => clients.destroy());

describe('the state table index of keys by truncate scope, on DynamoDB Local', () => {
  it('lists the keys of a scope a page at a time with a cursor, none of another scope or flow, and drops a key whose scope is removed', async () => {
    // Prepare: five keys of one table, one of another table, one without a scope, one of another flow in the same scope text.
    const scope = 'cdc#pg#public.customers';
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) await store.put(stateOf(key, 1, scope), 0);
    await store.put(stateOf('o1', 1, 'cdc#pg#public.orders'), 0);
    await store.put(stateOf('plain', 1), 0);
    await store.put({ ...stateOf('x', 1, scope), flow: 'other' }, 0);

    // Act: page through with two keys a page.
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await store.keysInTruncateScope('cdc', scope, 2, cursor);
      pages.push(page.keys);
      cursor = page.cursor;
    } while (cursor && pages.length < 10);

    // Assess
    expect(pages.flat().sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect(pages[0]).toHaveLength(2);
    expect((await store.get('cdc', 'k1'))?.truncateScope).toBe(scope);

    // The clock of the change that listed the key is kept beside its scope, and goes with it.
    const clock = { ts: 1_000, src: 'pg', seq: '0000000040', id: 'e40', pos: '0000000040' };
    await store.put({ ...stateOf('k1', 2, scope), truncateScopeClock: clock }, 1);
    expect((await store.get('cdc', 'k1'))?.truncateScopeClock).toEqual(clock);

    // A tombstone is written without a scope: the key leaves the index.
    await store.put(stateOf('k1', 3, undefined, true), 2);
    expect((await store.get('cdc', 'k1'))?.truncateScope).toBeUndefined();
    expect((await store.get('cdc', 'k1'))?.truncateScopeClock).toBeUndefined();
    expect((await store.keysInTruncateScope('cdc', scope, 10)).keys.sort()).toEqual(['k2', 'k3', 'k4', 'k5']);
  });

  it('keeps the latest truncate of each scope: a later one replaces it, an earlier or the same one does not, and the index does not list it', async () => {
    // Prepare
    const scope = 'cdc#pg#public.marks';
    const mark = (id: string, pos: string) => ({ id, source: 'pg', ts: 2_000, seq: pos, pos, at: 2_000 });

    // Act
    await store.markTruncated('cdc', scope, mark('t2', '00000000000000000050'));
    await store.markTruncated('cdc', scope, mark('t1', '00000000000000000010'));
    await store.markTruncated('cdc', scope, mark('t2-again', '00000000000000000050'));
    const first = await store.truncateMarks('cdc', [scope, 'cdc#pg#public.none']);
    await store.markTruncated('cdc', scope, mark('t3', '00000000000000000090'));
    const later = await store.truncateMarks('cdc', [scope]);

    // Assess
    expect([...first.entries()]).toEqual([[scope, mark('t2', '00000000000000000050')]]);
    expect(later.get(scope)?.id).toBe('t3');
    expect((await store.keysInTruncateScope('cdc', scope, 10)).keys).toEqual([]);
    // A scope as long as the index takes (2,048 bytes) still has its mark: the item is keyed by its hash.
    const longest = `cdc#pg#public.${'t'.repeat(2048 - 'cdc#pg#public.'.length)}`;
    await store.markTruncated('cdc', longest, mark('t4', '00000000000000000070'));
    expect((await store.truncateMarks('cdc', [longest, scope])).get(longest)?.id).toBe('t4');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbStateStore, flowViews } from '../../functions/adapters/dynamodb-state-store';
import { contactsFlow } from '../fixtures/flows';
import type { RecordView } from '../../functions/core/merge/types';
import { createStoreTables, integrationClients } from '../support/local-servers';

const view = (data: Record<string, unknown> | null): RecordView => ({ data, deleted: data === null, clocks: {}, hash: JSON.stringify(data) });

describe('remote ids of created records, kept with the delivered marker, on DynamoDB Local', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  let store: DynamoDbStateStore;

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    store = new DynamoDbStateStore({ client: doc, tableName: tables.state, targets: { desk: ['tickets'] }, views: flowViews([{ ...contactsFlow, id: 'desk' }]) });
  });
  afterAll(() => clients.destroy());

  it('lets one of several concurrent claimants create a key, then hands the others its remote id', async () => {
    // Prepare
    await store.put({ flow: 'desk', key: 'k1', version: 1, doc: { s: 'lww' }, view: view({ id: 'k1' }), delivered: {}, updatedAt: 1 }, 0);

    // Act
    const claims = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => store.claimCreate('desk', 'tickets', 'k1', owner, 1000, 61_000)));
    await store.setRemoteId('desk', 'tickets', 'k1', 'T-100');
    const later = await store.claimCreate('desk', 'tickets', 'k1', 'e', 2000, 62_000);
    await store.claimSend('desk', 'tickets', 'k1', 1, 'e', 2000, 62_000);
    await store.markSent('desk', 'tickets', 'k1', 'e', 1, 'h1');

    // Assess
    expect(claims.filter((c) => typeof c === 'object' && 'claimed' in c)).toEqual([{ claimed: true }]);
    expect(claims.filter((c) => c === 'taken')).toHaveLength(3);
    expect(later).toEqual({ remoteId: 'T-100' });
    expect((await store.get('desk', 'k1'))?.delivered.tickets).toEqual({ version: 1, hash: 'h1', remoteId: 'T-100' });
  });

  it('lets a claim expire, and forgets a remote id so the key is created again', async () => {
    // Prepare
    await store.put({ flow: 'desk', key: 'k2', version: 1, doc: { s: 'lww' }, view: view({ id: 'k2' }), delivered: {}, updatedAt: 1 }, 0);
    await store.claimCreate('desk', 'tickets', 'k2', 'crashed', 1000, 61_000);

    // Act
    const whileHeld = await store.claimCreate('desk', 'tickets', 'k2', 'other', 30_000, 90_000);
    const afterExpiry = await store.claimCreate('desk', 'tickets', 'k2', 'other', 62_000, 122_000);
    await store.setRemoteId('desk', 'tickets', 'k2', 'T-7');
    await store.setRemoteId('desk', 'tickets', 'k2', null, 'T-7');

    // Assess
    expect([whileHeld, afterExpiry]).toEqual(['taken', { claimed: true }]);
    expect((await store.get('desk', 'k2'))?.delivered.tickets?.remoteId).toBeUndefined();
    // The next create is told which id was forgotten, for its Idempotency-Key, on every claim until it succeeds.
    expect(await store.claimCreate('desk', 'tickets', 'k2', 'next', 63_000, 123_000)).toEqual({ claimed: true, forgotten: 'T-7' });
    expect(await store.claimCreate('desk', 'tickets', 'k2', 'retry', 200_000, 260_000)).toEqual({ claimed: true, forgotten: 'T-7' });
    // A late forget of T-7, by a delivery that also found it gone, leaves the record created again meanwhile alone.
    await store.setRemoteId('desk', 'tickets', 'k2', 'T-8');
    await store.setRemoteId('desk', 'tickets', 'k2', null, 'T-7');
    expect((await store.get('desk', 'k2'))?.delivered.tickets?.remoteId).toBe('T-8');
  });
});

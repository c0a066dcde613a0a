import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbDedupStore } from '../../functions/adapters/dynamodb-dedup-store';
import { releasePendingWebhookClaims } from '../../lib/local/persistence';
import { createStoreTables, integrationClients } from '../support/local-servers';

describe('webhook id claims on DynamoDB Local', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  // Now: DynamoDB Local deletes items whose TTL attribute is past by the wall clock.
  let now = Date.now();
  let store: DynamoDbDedupStore;
  let dedupTable: string;

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    dedupTable = tables.dedup;
    store = new DynamoDbDedupStore({ client: doc, tableName: tables.dedup, clock: { now: () => now } });
  });
  afterAll(() => clients.destroy());

  it('tells a claim still being captured (a retry must wait) from a confirmed one (a duplicate)', async () => {
    // Act
    const first = await store.claim('contacts/crm', 'msg_1', 60);
    const whileCapturing = await store.claim('contacts/crm', 'msg_1', 60);
    await store.confirm('contacts/crm', 'msg_1', 86_400);
    const afterConfirm = await store.claim('contacts/crm', 'msg_1', 60);

    // Assess
    expect([first, whileCapturing, afterConfirm]).toEqual([{ firstAt: now }, 'pending', 'duplicate']);
  });

  it('lets a retry take a claim whose capture died, once the claim has expired', async () => {
    // Prepare: captured by a process that crashed before confirming.
    await store.claim('contacts/crm', 'msg_2', 60);

    const crashedAt = now;

    // Act
    const soon = await store.claim('contacts/crm', 'msg_2', 60);
    now += 61_000;
    const later = await store.claim('contacts/crm', 'msg_2', 60);

    // Assess: the retry keeps the first arrival, so its records order as the first capture's would have.
    expect([soon, later]).toEqual(['pending', { firstAt: crashedAt }]);
  });

  it('takes a released claim at once and keeps its first arrival; a confirmed id that expired is a new delivery', async () => {
    // Prepare
    const firstAt = now;
    await store.claim('contacts/crm', 'msg_5', 60);
    await store.release('contacts/crm', 'msg_5');
    now += 5_000;
    await store.claim('contacts/crm', 'msg_6', 60);
    await store.confirm('contacts/crm', 'msg_6', 86_400);

    // Act
    const retried = await store.claim('contacts/crm', 'msg_5', 60);
    now += 86_401_000;
    const reused = await store.claim('contacts/crm', 'msg_6', 60);
    await store.release('contacts/crm', 'msg_never_claimed');
    // A release of a claim already confirmed (another request's, say) leaves it a duplicate.
    await store.claim('contacts/crm', 'msg_7', 60);
    await store.confirm('contacts/crm', 'msg_7', 86_400);
    await store.release('contacts/crm', 'msg_7');

    // Assess
    expect(retried).toEqual({ firstAt });
    expect(reused).toEqual({ firstAt: now });
    expect(await store.claim('contacts/crm', 'msg_never_claimed', 60)).toEqual({ firstAt: now });
    expect(await store.claim('contacts/crm', 'msg_7', 60)).toBe('duplicate');
  });

  it('lets go, at a local restart, of the claims a killed runtime was capturing, and keeps the confirmed ones', async () => {
    // Prepare: one request was being captured when the runtime was killed; another was answered.
    const killedAt = now;
    await store.claim('contacts/crm', 'msg_3', 60);
    await store.claim('contacts/crm', 'msg_4', 60);
    await store.confirm('contacts/crm', 'msg_4', 86_400);

    // Act
    const released = await releasePendingWebhookClaims({ doc } as never, dedupTable);

    // Assess: the sender's retry of msg_3 is taken at once; msg_4 is still a duplicate.
    expect(released).toBeGreaterThanOrEqual(1);
    now += 120_000;
    expect([await store.claim('contacts/crm', 'msg_3', 60), await store.claim('contacts/crm', 'msg_4', 60)]).toEqual([{ firstAt: killedAt }, 'duplicate']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbStateStore, flowViews } from '../../functions/adapters/dynamodb-state-store';
import type { RecordView } from '../../functions/core/merge/types';
import { releaseSendLeases } from '../../lib/local/persistence';
import { contactsFlow } from '../fixtures/flows';
import { createStoreTables, integrationClients } from '../support/local-servers';

const view = (data: Record<string, unknown> | null): RecordView => ({ data, deleted: data === null, clocks: {}, hash: JSON.stringify(data) });

describe('send leases of unconditional targets, kept with the delivered marker, on DynamoDB Local', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  let store: DynamoDbStateStore;

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    store = new DynamoDbStateStore({ client: doc, tableName: tables.state, targets: { feed: ['hook'] }, views: flowViews([{ ...contactsFlow, id: 'feed' }]) });
  });
  afterAll(() => clients.destroy());

  const seed = (key: string, version: number) => store.put({ flow: 'feed', key, version, doc: { s: 'lww' }, view: view({ id: key }), delivered: {}, updatedAt: 1 }, version - 1);

  it('lets one of several concurrent deliveries of a key send, and the next one once the first recorded its version', async () => {
    // Prepare
    await seed('k1', 1);

    // Act
    const claims = await Promise.all(['a', 'b', 'c'].map((owner, i) => store.claimSend('feed', 'hook', 'k1', 5 + i, owner, 1_000, 61_000)));
    const winner = ['a', 'b', 'c'][claims.indexOf('claimed')]!;
    const whileSending = await store.claimSend('feed', 'hook', 'k1', 9, 'd', 2_000, 62_000);
    await store.markSent('feed', 'hook', 'k1', winner, 7, 'h7');
    const older = await store.claimSend('feed', 'hook', 'k1', 6, 'e', 3_000, 63_000);
    const newer = await store.claimSend('feed', 'hook', 'k1', 9, 'd', 3_000, 63_000);

    // Assess
    expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c === 'taken')).toHaveLength(2);
    expect(whileSending).toBe('taken');
    expect(older).toBe('delivered');
    expect(newer).toBe('claimed');
    expect((await store.get('feed', 'k1'))?.delivered.hook).toMatchObject({ version: 7, hash: 'h7' });
  });

  it('lets a lease expire, drops only its own lease, and lets a replay send the version the target has', async () => {
    // Prepare
    await seed('k2', 1);
    await store.claimSend('feed', 'hook', 'k2', 3, 'crashed', 1_000, 61_000);

    // Act
    const whileHeld = await store.claimSend('feed', 'hook', 'k2', 3, 'next', 30_000, 90_000);
    const afterExpiry = await store.claimSend('feed', 'hook', 'k2', 3, 'next', 62_000, 122_000);
    await store.dropSend('feed', 'hook', 'k2', 'crashed');
    const stillHeld = await store.claimSend('feed', 'hook', 'k2', 3, 'third', 63_000, 123_000);
    await store.markSent('feed', 'hook', 'k2', 'next', 3, 'h3');
    const again = await store.claimSend('feed', 'hook', 'k2', 3, 'third', 64_000, 124_000);
    const replay = await store.claimSend('feed', 'hook', 'k2', 3, 'operator', 64_000, 124_000, true);
    await store.markSent('feed', 'hook', 'k2', 'operator', 3, 'h3', { at: 70_000, eventIds: ['e3'], replayedBy: 'bob' });
    const replayed = (await store.get('feed', 'k2'))?.delivered.hook;
    const afterReplay = await store.claimSend('feed', 'hook', 'k2', 4, 'fourth', 65_000, 125_000);

    // Assess
    expect([whileHeld, afterExpiry, stillHeld]).toEqual(['taken', 'claimed', 'taken']);
    expect([again, replay, afterReplay]).toEqual(['delivered', 'claimed', 'claimed']);
    expect((await store.get('feed', 'k2'))?.delivered.hook).toMatchObject({ version: 3, hash: 'h3' });
    // The replay is recorded on the marker, which lineage and GET /records read: when, and who asked.
    expect(replayed).toMatchObject({ version: 3, at: 70_000, replayedBy: 'bob' });
  });
  it('records no delivery for a key whose lease was let go after a failed write', async () => {
    // Prepare
    await seed('k3', 1);

    // Act
    const claimed = await store.claimSend('feed', 'hook', 'k3', 1, 'a', 1_000, 61_000);
    await store.dropSend('feed', 'hook', 'k3', 'a');
    const retried = await store.claimSend('feed', 'hook', 'k3', 1, 'b', 2_000, 62_000);

    // Assess
    expect([claimed, retried]).toEqual(['claimed', 'claimed']);
    expect((await store.get('feed', 'k3'))?.delivered).toEqual({});
  });

  it('lets go, at a restart of the local runtime, of the leases the stopped run held, and of nothing else', async () => {
    // Prepare: a state table of its own, where a run stopped (kill -9) while sending k5 and creating k6 at a target; k7 was delivered.
    const tables = await createStoreTables(clients);
    const store = new DynamoDbStateStore({ client: doc, tableName: tables.state, targets: { feed: ['hook'] }, views: flowViews([{ ...contactsFlow, id: 'feed' }]) });
    const seed = (key: string) => store.put({ flow: 'feed', key, version: 1, doc: { s: 'lww' }, view: view({ id: key }), delivered: {}, updatedAt: 1 }, 0);
    await Promise.all([seed('k5'), seed('k6'), seed('k7')]);
    expect(await store.claimSend('feed', 'hook', 'k5', 1, 'stopped-run', 1_000, 36_000)).toBe('claimed');
    expect(await store.claimCreate('feed', 'hook', 'k6', 'stopped-run', 1_000, 36_000)).toEqual({ claimed: true });
    expect(await store.claimSend('feed', 'hook', 'k7', 1, 'done', 1_000, 36_000)).toBe('claimed');
    await store.markSent('feed', 'hook', 'k7', 'done', 1, 'h1');

    // Act
    const released = await releaseSendLeases({ ...clients, doc }, tables.state);

    // Assess: the retry of k5's delivery sends at once; k6's create claim stays (its request may have created the
    // record, whose id only that claim's owner could have recorded); k7 keeps its delivered version.
    expect(released).toBe(1);
    expect(await store.claimSend('feed', 'hook', 'k5', 1, 'restarted-run', 2_000, 37_000)).toBe('claimed');
    expect(await store.claimCreate('feed', 'hook', 'k6', 'restarted-run', 2_000, 37_000)).toBe('taken');
    expect(await store.claimSend('feed', 'hook', 'k7', 1, 'restarted-run', 2_000, 37_000)).toBe('delivered');
  });
});

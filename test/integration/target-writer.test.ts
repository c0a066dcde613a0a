import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClientFor } from '../../functions/adapters/clients';
import { deliveredPk, DynamoDbStateStore, statePk, flowViews } from '../../functions/adapters/dynamodb-state-store';
import { contactsFlow } from '../fixtures/flows';
import { DynamoDbTargetWriter, MARKER_ATTRIBUTE } from '../../functions/adapters/dynamodb-target-writer';
import type { RecordView } from '../../functions/core/merge/types';
import { createStoreTables, createTargetTable, integrationClients, uniqueSuffix } from '../support/local-servers';

const view = (data: Record<string, unknown> | null): RecordView => ({ data, deleted: data === null, clocks: {}, hash: JSON.stringify(data) });

describe('DynamoDbTargetWriter against DynamoDB Local', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  let writer: DynamoDbTargetWriter;
  let targetTable: string;
  let stateStore: DynamoDbStateStore;
  let stateTable: string;

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    targetTable = await createTargetTable(clients, `it-${uniqueSuffix()}-replica`);
    stateTable = tables.state;
    stateStore = new DynamoDbStateStore({ client: doc, tableName: tables.state, targets: { contacts: ['replica'] }, views: flowViews([contactsFlow]) });
    writer = new DynamoDbTargetWriter({ client: doc, stateTable: tables.state, tableName: targetTable, keyAttribute: 'id' });
  });
  afterAll(() => clients.destroy());

  async function seedState(key: string): Promise<void> {
    await stateStore.put({ flow: 'contacts', key, version: 1, doc: { s: 'lww' }, view: view({ id: key }), delivered: {}, updatedAt: Date.now() }, 0);
  }
  const write = (key: string, version: number, data: Record<string, unknown> | null) =>
    writer.write({ flow: 'contacts', key, targetId: 'replica', version, view: view(data), ts: version * 1000 });
  const item = async (key: string) => (await doc.send(new GetCommand({ TableName: targetTable, Key: { id: key }, ConsistentRead: true }))).Item;
  const stateItem = async (pk: string) => (await doc.send(new GetCommand({ TableName: stateTable, Key: { pk }, ConsistentRead: true }))).Item;

  it('keeps v2 when v1 arrives after it', async () => {
    // Prepare
    await seedState('k-1');

    // Act
    const first = await write('k-1', 2, { id: 'k-1', name: 'two' });
    const second = await write('k-1', 1, { id: 'k-1', name: 'one' });

    // Assess
    expect([first, second]).toEqual(['written', 'skipped']);
    const got = await item('k-1');
    expect(got?.name).toBe('two');
    expect(got?.[MARKER_ATTRIBUTE]).toMatchObject({ flow: 'contacts', version: 2 });
    expect((await stateStore.get('contacts', 'k-1'))?.delivered.replica?.version).toBe(2);
  });

  it('records the delivery in the small marker item and leaves the state item as resolve wrote it', async () => {
    // Prepare
    await seedState('k-4');
    const before = await stateItem(statePk('contacts', 'k-4'));

    // Act
    const outcome = await write('k-4', 1, { id: 'k-4', name: 'one' });
    await stateStore.markDelivered('contacts', 'k-4', 'lake', 1, 'h-lake');

    // Assess
    expect(outcome).toBe('written');
    expect(await stateItem(statePk('contacts', 'k-4'))).toEqual(before);
    expect(before).not.toHaveProperty('delivered');
    expect(await stateItem(deliveredPk('contacts', 'replica', 'k-4'))).toEqual({
      pk: '~delivered#contacts#replica#k-4',
      version: 1,
      hash: JSON.stringify({ id: 'k-4', name: 'one' }),
    });
    expect(await stateItem(deliveredPk('contacts', 'lake', 'k-4'))).toMatchObject({ version: 1, hash: 'h-lake' });
  });

  it('keeps the delivered markers when resolve writes the next version of the state', async () => {
    // Prepare
    await seedState('k-5');
    await write('k-5', 1, { id: 'k-5', name: 'one' });

    // Act
    await stateStore.put({ flow: 'contacts', key: 'k-5', version: 2, doc: { s: 'lww' }, view: view({ id: 'k-5', name: 'two' }), delivered: {}, updatedAt: Date.now() }, 1);

    // Assess
    const got = await stateStore.get('contacts', 'k-5');
    expect(got?.version).toBe(2);
    expect(got?.delivered.replica?.version).toBe(1);
  });

  it('overwrites an item written outside syncline (no marker), also when the table is a source of the flow', async () => {
    // Prepare
    await seedState('k-6');
    await doc.send(new PutCommand({ TableName: targetTable, Item: { id: 'k-6', name: 'outside' } }));

    // Act
    const outcome = await write('k-6', 1, { id: 'k-6', name: 'merged' });

    // Assess
    expect(outcome).toBe('written');
    const got = await item('k-6');
    expect(got?.name).toBe('merged');
    expect(got?.[MARKER_ATTRIBUTE]).toMatchObject({ flow: 'contacts', version: 1 });
  });

  it('stays deleted when an older upsert (v2) arrives after the delete (v3)', async () => {
    // Prepare
    await seedState('k-2');
    await write('k-2', 1, { id: 'k-2', name: 'one' });

    // Act
    const del = await write('k-2', 3, null);
    const late = await write('k-2', 2, { id: 'k-2', name: 'two' });

    // Assess
    expect([del, late]).toEqual(['written', 'skipped']);
    expect(await item('k-2')).toBeUndefined();
    expect((await stateStore.get('contacts', 'k-2'))?.delivered.replica?.version).toBe(3);
  });

  it('writes the same version once (a redelivery is skipped)', async () => {
    await seedState('k-3');
    expect(await write('k-3', 4, { id: 'k-3', n: 1 })).toBe('written');
    expect(await write('k-3', 4, { id: 'k-3', n: 1 })).toBe('skipped');
  });
});

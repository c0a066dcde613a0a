import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbStateStore } from '../../functions/adapters/dynamodb-state-store';
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

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    targetTable = await createTargetTable(clients, `it-${uniqueSuffix()}-replica`);
    stateStore = new DynamoDbStateStore({ client: doc, tableName: tables.state });
    writer = new DynamoDbTargetWriter({ client: doc, stateTable: tables.state, tableName: targetTable, keyAttribute: 'id' });
  });
  afterAll(() => clients.destroy());

  async function seedState(key: string): Promise<void> {
    await stateStore.put({ flow: 'contacts', key, version: 1, doc: { s: 'lww' }, view: view({ id: key }), delivered: {}, updatedAt: Date.now() }, 0);
  }
  const write = (key: string, version: number, data: Record<string, unknown> | null) =>
    writer.write({ flow: 'contacts', key, targetId: 'replica', version, view: view(data), ts: version * 1000 });
  const item = async (key: string) => (await doc.send(new GetCommand({ TableName: targetTable, Key: { id: key }, ConsistentRead: true }))).Item;

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

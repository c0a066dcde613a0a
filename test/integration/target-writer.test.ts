import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClientFor } from '../../functions/adapters/clients';
import { isRefusedItem, safeErrorText } from '../../functions/core/error-text';
import { deliveredPk, DynamoDbStateStore, statePk, flowViews } from '../../functions/adapters/dynamodb-state-store';
import { contactsFlow } from '../fixtures/flows';
import { DynamoDbTargetItems, DynamoDbTargetWriter, MARKER_ATTRIBUTE } from '../../functions/adapters/dynamodb-target-writer';
import type { DeliveryNote } from '../../functions/ports';
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
  let items: DynamoDbTargetItems;

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    targetTable = await createTargetTable(clients, `it-${uniqueSuffix()}-replica`);
    stateTable = tables.state;
    stateStore = new DynamoDbStateStore({ client: doc, tableName: tables.state, targets: { contacts: ['replica'] }, views: flowViews([contactsFlow]) });
    writer = new DynamoDbTargetWriter({ client: doc, stateTable: tables.state, tableName: targetTable, keyAttribute: 'id' });
    items = new DynamoDbTargetItems({ contacts: { replica: { tableName: targetTable, keyAttribute: 'id', client: doc } } });
  });
  afterAll(() => clients.destroy());

  async function seedState(key: string): Promise<void> {
    await stateStore.put({ flow: 'contacts', key, version: 1, doc: { s: 'lww' }, view: view({ id: key }), delivered: {}, updatedAt: Date.now() }, 0);
  }
  const write = (key: string, version: number, data: Record<string, unknown> | null, note?: DeliveryNote) =>
    writer.write({ flow: 'contacts', key, targetId: 'replica', version, view: view(data), ts: version * 1000, ...(note ? { note } : {}) });
  const item = async (key: string) => (await doc.send(new GetCommand({ TableName: targetTable, Key: { id: key }, ConsistentRead: true }))).Item;
  const stateItem = async (pk: string) => (await doc.send(new GetCommand({ TableName: stateTable, Key: { pk }, ConsistentRead: true }))).Item;

  it('keeps v2 when v1 arrives after it; the delivery is recorded on the item, where record and lineage read it', async () => {
    // Prepare
    await seedState('k-1');

    // Act
    const first = await write('k-1', 2, { id: 'k-1', name: 'two' }, { at: 5_000, eventIds: ['e-2'] });
    const second = await write('k-1', 1, { id: 'k-1', name: 'one' });

    // Assess
    expect([first, second]).toEqual(['written', 'skipped']);
    const got = await item('k-1');
    expect(got?.name).toBe('two');
    expect(got?.[MARKER_ATTRIBUTE]).toMatchObject({ flow: 'contacts', version: 2, at: 5_000, ev: ['e-2'] });
    expect(await items.get('contacts', 'k-1')).toEqual({ replica: { version: 2, hash: JSON.stringify({ id: 'k-1', name: 'two' }), at: 5_000, eventIds: ['e-2'] } });
  });

  it('writes nothing but the target item for an upsert: the state item stays as resolve wrote it, no marker item', async () => {
    // Prepare
    await seedState('k-4');
    const before = await stateItem(statePk('contacts', 'k-4'));

    // Act
    const outcome = await write('k-4', 1, { id: 'k-4', name: 'one' });

    // Assess
    expect(outcome).toBe('written');
    expect(await stateItem(statePk('contacts', 'k-4'))).toEqual(before);
    expect(await stateItem(deliveredPk('contacts', 'replica', 'k-4'))).toBeUndefined();
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

  it('stays deleted when an older upsert (v2) arrives after the delete (v3): the delete left its tombstone first', async () => {
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

  it('deletes an older upsert that replaced the item while a newer delete was between its tombstone and its delete', async () => {
    // Prepare: v1 is there; the delete of v3 records its tombstone, then waits before deleting.
    await seedState('k-7');
    await write('k-7', 1, { id: 'k-7', name: 'one' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reachedDelete!: () => void;
    const atDelete = new Promise<void>((r) => (reachedDelete = r));
    const gated = {
      send: async (command: { constructor: { name: string } }) => {
        if (command.constructor.name === 'DeleteCommand') {
          reachedDelete();
          await gate;
        }
        return doc.send(command as never);
      },
    } as unknown as typeof doc;
    const deleter = new DynamoDbTargetWriter({ client: doc, targetClient: gated, stateTable, tableName: targetTable, keyAttribute: 'id' });

    // Act: the upsert of v2 lands in between.
    const del = deleter.write({ flow: 'contacts', key: 'k-7', targetId: 'replica', version: 3, view: view(null), ts: 3000 });
    await atDelete;
    const between = await write('k-7', 2, { id: 'k-7', name: 'two' });
    release();

    // Assess
    expect([between, await del]).toEqual(['written', 'written']);
    expect(await item('k-7')).toBeUndefined();
  });

  it('keeps a newer upsert over an older delete, and a newer upsert after it', async () => {
    // Prepare
    await seedState('k-8');
    await write('k-8', 1, { id: 'k-8', name: 'one' });

    // Act
    const newer = await write('k-8', 4, { id: 'k-8', name: 'four' });
    const olderDelete = await write('k-8', 3, null);
    const after = await write('k-8', 5, { id: 'k-8', name: 'five' });

    // Assess
    expect([newer, olderDelete, after]).toEqual(['written', 'skipped', 'written']);
    expect((await item('k-8'))?.name).toBe('five');
  });

  it('writes the same version once (a redelivery is skipped)', async () => {
    await seedState('k-3');
    expect(await write('k-3', 4, { id: 'k-3', n: 1 })).toBe('written');
    expect(await write('k-3', 4, { id: 'k-3', n: 1 })).toBe('skipped');
  });

  it('meets an item over 400 KB with a refusal of the item (retrying cannot help), told without quoting it', async () => {
    // Act
    const err = await write('big', 1, { id: 'big', notes: 'x'.repeat(410 * 1024) }).catch((e: unknown) => e);

    // Assess: the delivery parks such a record (deliver-dynamodb-handler) rather than retrying it.
    expect(isRefusedItem(err)).toBe(true);
    expect(safeErrorText(err)).toBe('ValidationException (item over 400 KB)');
    expect(await item('big')).toBeUndefined();
  });
});

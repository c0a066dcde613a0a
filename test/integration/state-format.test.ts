import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStateStore, flowStateOptions, statePk } from '../../functions/adapters/dynamodb-state-store';
import { mergeChanges } from '../../functions/core/merge';
import { capturedContact, contactsFlow } from '../fixtures/flows';
import { createStoreTables, integrationClients } from '../support/local-servers';

const clients = integrationClients();
let table: string;
let store: DynamoDbStateStore;

const flow = { ...contactsFlow, conflict: { ...contactsFlow.conflict, strategy: 'field-lww' as const } };

beforeAll(async () => {
  table = (await createStoreTables(clients)).state;
  store = new DynamoDbStateStore({ client: clients.doc, tableName: table, ...flowStateOptions([flow]) });
});
afterAll(() => clients.destroy());
const raw = async (key: string) => (await clients.doc.send(new GetCommand({ TableName: table, Key: { pk: statePk(flow.id, key) } }))).Item!;
/** A contact as the CRM sends it, about 500 bytes of fields. */
const contact = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `c${i}`,
  email: `person.${i}@company.example`,
  firstName: 'Alexandra',
  lastName: 'Montgomery-Smith',
  fullName: 'Alexandra Montgomery-Smith',
  company: 'Northwind Traders International',
  phone: '*******4567',
  nationalId: '[REDACTED]',
  origin: 'crm',
  emailDomain: 'company.example',
  updatedAt: '2026-11-30T10:15:00.000Z',
  address: { street: '1200 Harbor Boulevard, Suite 400', city: 'Springfield', postcode: '62704', country: 'US' },
  tags: ['customer', 'newsletter', 'priority'],
  ...extra,
});

describe('the state item on DynamoDB Local', () => {
  it('stores a typical record in under 1 KB, so each write costs one write unit, and reads it back whole', async () => {
    // Prepare: four changes of one contact from different events, as a busy key has.
    const changes = [1, 2, 3, 4].map((n) => ({ ...capturedContact(n, contact(1, { tags: [`t${n}`] })), key: 'c1', ts: 1_000 * n }));
    const merged = mergeChanges(flow, undefined, changes);

    // Act
    await store.put({ flow: flow.id, key: 'c1', version: 1, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 5 }, 0);

    // Assess
    const item = await raw('c1');
    const bytes = Object.entries(item).reduce((n, [k, v]) => n + k.length + (v instanceof Uint8Array ? v.length : String(v).length), 0);
    expect(bytes).toBeLessThan(1024);
    expect(Object.keys(item).sort()).toEqual(['pk', 'updatedAt', 'version', 'z']);
    const back = await store.get(flow.id, 'c1');
    expect(back?.doc).toEqual(merged.doc);
    expect(back?.view).toEqual(merged.view);
  });

  it('reads an item of the earlier form (doc and view as maps) and rewrites it packed on its next change', async () => {
    // Prepare: the item as releases before the packed form wrote it.
    const first = mergeChanges(flow, undefined, [{ ...capturedContact(2, contact(2)), key: 'c2' }]);
    await clients.doc.send(
      new PutCommand({
        TableName: table,
        Item: { pk: statePk(flow.id, 'c2'), flow: flow.id, key: 'c2', version: 1, doc: first.doc, view: first.view, updatedAt: 1, delivered: { replica: { version: 1, hash: first.view.hash } } },
      }),
    );

    // Act: read it, merge a newer change, write it back on the version read.
    const old = await store.get(flow.id, 'c2');
    const next = mergeChanges(flow, old!.doc, [{ ...capturedContact(3, contact(2, { company: 'Contoso' })), key: 'c2', ts: 60_000 }]);
    await store.put({ ...old!, version: 2, doc: next.doc, view: next.view, updatedAt: 2 }, 1);

    // Assess
    expect(old?.view).toEqual(first.view);
    expect(old?.delivered.replica?.version).toBe(1);
    const item = await raw('c2');
    expect(item.doc).toBeUndefined();
    expect(item.view).toBeUndefined();
    expect(item.z).toBeInstanceOf(Uint8Array);
    const back = await store.get(flow.id, 'c2');
    expect(back?.view.data?.company).toBe('Contoso');
    expect(back?.view).toEqual(next.view);
    // The legacy delivered map stays readable until a marker item supersedes it.
    expect(back?.delivered.replica?.version).toBe(1);
  });

  it("gives a deleted item of the earlier form its delete's clock, which its stored view lacks", async () => {
    // Prepare: a delete, stored as earlier releases did (their views had no tomb).
    const deleted = mergeChanges(flow, undefined, [{ ...capturedContact(4, contact(4)), key: 'c4', op: 'delete', data: undefined, ts: 70_000 }]);
    const { tomb: _, ...view } = { ...deleted.view, hash: deleted.view.hash };
    await clients.doc.send(new PutCommand({ TableName: table, Item: { pk: statePk(flow.id, 'c4'), flow: flow.id, key: 'c4', version: 1, doc: deleted.doc, view, updatedAt: 1 } }));

    // Act
    const old = await store.get(flow.id, 'c4');

    // Assess
    expect(old?.view).toMatchObject({ deleted: true, tomb: { ts: 70_000 } });
  });
});

import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConflictStore } from '../../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbDedupStore } from '../../../functions/adapters/dynamodb-dedup-store';
import { DynamoDbQuarantineStore } from '../../../functions/adapters/dynamodb-quarantine-store';
import type { Conflict } from '../../../functions/core/merge';
import type { QuarantineItem } from '../../../functions/ports';
import { QUARANTINE_TIME_INDEX } from '../../../functions/plan/store-tables';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const NOW = Date.UTC(2026, 0, 15);
const clock = { now: () => NOW };
const ccf = () => Object.assign(new Error('exists'), { name: 'ConditionalCheckFailedException' });

describe('DynamoDbDedupStore', () => {
  beforeEach(() => ddb.reset());

  it('claims an id as pending, tells a pending claim from a confirmed one, and reads the old item when the refusal lacks it', async () => {
    // Prepare
    const old = (item: Record<string, unknown>) => Object.assign(ccf(), { Item: item });
    // The old item comes in DynamoDB's low-level form: the document client does not convert errors.
    ddb
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { pk: 'contacts/crm#msg_1', firstAt: NOW, pending: true } })
      .rejectsOnce(old({ pk: { S: 'contacts/crm#msg_1' }, pending: { BOOL: true } }))
      .rejectsOnce(old({ pk: { S: 'contacts/crm#msg_1' } }))
      .rejectsOnce(ccf())
      .resolves({});
    ddb.on(GetCommand).resolves({ Item: { pk: 'contacts/crm#msg_1', pending: true } });
    const store = new DynamoDbDedupStore({ client, tableName: 'dedup', clock });

    // Act
    const first = await store.claim('contacts/crm', 'msg_1', 60);
    const whilePending = await store.claim('contacts/crm', 'msg_1', 60);
    const afterConfirm = await store.claim('contacts/crm', 'msg_1', 60);
    // DynamoDB Local may answer without the old item: the store reads it.
    const withoutOldItem = await store.claim('contacts/crm', 'msg_1', 60);

    // Assess
    expect([first, whilePending, afterConfirm, withoutOldItem]).toEqual([{ firstAt: NOW }, 'pending', 'duplicate', 'pending']);
  });

  it('rethrows other errors', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const store = new DynamoDbDedupStore({ client, tableName: 'dedup', clock });

    // Act / Assess
    await expect(store.claim('s', 'i', 1)).rejects.toThrow('denied');
    await expect(store.release('s', 'i')).rejects.toThrow('denied');
  });
});

describe('DynamoDbQuarantineStore', () => {
  beforeEach(() => ddb.reset());

  const item = (id: string, at: number): QuarantineItem => ({
    flow: 'contacts',
    id,
    source: 'crm',
    at,
    reason: 'bad',
    errors: ['bad'],
    record: { email: '****@example.com' },
    envelope: { v: 1, id, flow: 'contacts', source: 'crm', key: '', op: 'upsert', ts: at, seq: 's', lineage: [] },
  });
  const row = (id: string, at: number) => ({ pk: 'contacts', sk: id, expiresAt: 1, ...item(id, at) });

  it('puts items keyed by flow and id with a TTL and lists a page newest first through the time index', async () => {
    // Prepare
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [row('b', 2), row('a', 1)], LastEvaluatedKey: { pk: 'contacts', sk: 'a', at: 1 } });
    const store = new DynamoDbQuarantineStore({ client, tableName: 'quarantine', retentionDays: 7 });

    // Act
    await store.put([item('a', NOW)]);
    const page = await store.list('contacts', { limit: 2, before: { at: 5, id: 'c' } });

    // Assess
    expect(ddb).toHaveReceivedCommandWith(BatchWriteCommand, {
      RequestItems: { quarantine: [{ PutRequest: { Item: expect.objectContaining({ pk: 'contacts', sk: 'a', expiresAt: NOW / 1000 + 7 * 86400 }) } }] },
    });
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, { IndexName: QUARANTINE_TIME_INDEX, ScanIndexForward: false, Limit: 2, ExclusiveStartKey: { pk: 'contacts', sk: 'c', at: 5 } });
    expect(page.items.map((i) => i.id)).toEqual(['b', 'a']);
    expect(page.items[0]).not.toHaveProperty('pk');
    expect(page.next).toEqual({ at: 1, id: 'a' });
  });

  it('lists from the table, sorted and paged alike, when the table has no time index yet', async () => {
    // Prepare: a table an earlier release created (DynamoDB's answer for a missing index).
    const missing = Object.assign(new Error('The table does not have the specified index: byFlowAt'), { name: 'ValidationException' });
    ddb.on(QueryCommand, { IndexName: QUARANTINE_TIME_INDEX }).rejects(missing);
    ddb.on(QueryCommand, { IndexName: undefined }).resolves({ Items: [row('a', 1), row('c', 3), row('b', 3), row('d', 4)] });
    const store = new DynamoDbQuarantineStore({ client, tableName: 'quarantine' });

    // Act
    const first = await store.list('contacts', { limit: 2 });
    const second = await store.list('contacts', { limit: 2, before: first.next });

    // Assess: newest first, equal times by id descending; the last page has no next.
    expect(first.items.map((i) => i.id)).toEqual(['d', 'c']);
    expect(second.items.map((i) => i.id)).toEqual(['b', 'a']);
    expect(second.next).toBeUndefined();
  });

  it('lists from the table while DynamoDB still builds the time index after an upgrade', async () => {
    // Prepare: DynamoDB's answer for an index that is being backfilled.
    const building = Object.assign(new Error('Cannot read from backfilling global secondary index: byFlowAt'), { name: 'ValidationException' });
    ddb.on(QueryCommand, { IndexName: QUARANTINE_TIME_INDEX }).rejects(building);
    ddb.on(QueryCommand, { IndexName: undefined }).resolves({ Items: [row('a', 1), row('b', 2)] });
    const store = new DynamoDbQuarantineStore({ client, tableName: 'quarantine' });

    // Act
    const page = await store.list('contacts');

    // Assess
    expect(page.items.map((i) => i.id)).toEqual(['b', 'a']);
  });

  it('does not take another refusal of the index query for a missing index', async () => {
    // Prepare
    ddb.on(QueryCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const store = new DynamoDbQuarantineStore({ client, tableName: 'quarantine' });

    // Act / Assess
    await expect(store.list('contacts')).rejects.toThrow('denied');
  });
});

describe('DynamoDbConflictStore', () => {
  beforeEach(() => ddb.reset());

  it('opens conflicts idempotently with a conditional put, in the index of open conflicts and without expiry', async () => {
    // Prepare
    const conflict: Conflict = {
      id: 'c1',
      flow: 'people',
      key: 'p1',
      field: 'email',
      current: { value: 'a', source: 'crm', clock: { ts: 1, src: 'crm', seq: '1', id: 'e1' } },
      incoming: { value: 'b', source: 'erp', clock: { ts: 2, src: 'erp', seq: '1', id: 'e2' } },
    };
    ddb.on(PutCommand).resolvesOnce({}).rejects(ccf());
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });

    // Act
    await store.open([conflict], NOW);
    await store.open([conflict], NOW + 1);

    // Assess
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 2);
    expect(ddb).toHaveReceivedNthCommandWith(PutCommand, 1, {
      Item: expect.objectContaining({ pk: 'people', sk: 'c1', status: 'open', openedAt: NOW, field: 'email', openFlow: 'people' }),
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input.Item).not.toHaveProperty('expiresAt');
  });

  it('answers which conflicts were new, so only those are announced', async () => {
    // Prepare
    ddb.on(PutCommand).callsFake((input: { Item: { sk: string } }) => (input.Item.sk === 'old' ? Promise.reject(ccf()) : Promise.resolve({})));
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });
    const c = (id: string): Conflict => ({ id, flow: 'people', key: 'p1', field: 'email', current: { value: 1, source: 'a', clock: { ts: 1, src: 'a', seq: '1', id: 'x' } }, incoming: { value: 2, source: 'b', clock: { ts: 1, src: 'b', seq: '1', id: 'y' } } });

    // Act / Assess
    expect(await store.open([c('old'), c('new')], NOW)).toEqual(['new']);
  });

  it('resolves with a conditional update on status = open, leaving the open index and expiring after the retention', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolvesOnce({}).rejects(ccf());
    ddb.on(GetCommand).resolves({ Item: { pk: 'people', sk: 'c1', id: 'c1', status: 'resolved', expiresAt: 1 } });
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts', retentionDays: 30 });
    const resolution = { resolvedAt: NOW, resolvedBy: 'alice', choice: { choose: 'current' as const }, changeId: 'ch1' };

    // Act
    const first = await store.markResolved('people', 'c1', resolution);
    const second = await store.markResolved('people', 'c1', resolution);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'people', sk: 'c1' },
      UpdateExpression: expect.stringMatching(/expiresAt = :expires REMOVE openFlow$/),
      ConditionExpression: 'attribute_exists(pk) AND #status = :open',
      ExpressionAttributeValues: expect.objectContaining({ ':resolved': 'resolved', ':by': 'alice', ':change': 'ch1', ':expires': NOW / 1000 + 30 * 86_400 }),
    });
    expect(await store.get('people', 'c1')).toEqual({ id: 'c1', status: 'resolved' });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { ConsistentRead: true });
  });

  it('supersedes with a conditional update on status = open, leaving the open index and expiring after the retention', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolvesOnce({}).rejects(ccf());
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts', retentionDays: (flow) => (flow === 'people' ? 7 : 90) });

    // Act
    const first = await store.markSuperseded('people', 'c1', NOW);
    const second = await store.markSuperseded('people', 'c1', NOW);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'conflicts',
      Key: { pk: 'people', sk: 'c1' },
      UpdateExpression: 'SET #status = :superseded, supersededAt = :at, expiresAt = :expires REMOVE openFlow',
      ConditionExpression: 'attribute_exists(pk) AND #status = :open',
      ExpressionAttributeValues: { ':superseded': 'superseded', ':open': 'open', ':at': NOW, ':expires': NOW / 1000 + 7 * 86_400 },
    });
  });

  it('reopens a resolution that could not be sent: back in the open index, no expiry', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });

    // Act
    await store.reopen('people', 'c1', 'ch1');

    // Assess
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'people', sk: 'c1' },
      UpdateExpression: 'SET #status = :open, openFlow = :flow REMOVE resolvedAt, resolvedBy, choice, changeId, expiresAt',
      ConditionExpression: '#status = :resolved AND changeId = :change',
      ExpressionAttributeValues: { ':open': 'open', ':resolved': 'resolved', ':change': 'ch1', ':flow': 'people' },
    });
  });

  it('lists open conflicts from the open index (every page), closed ones from the flow partition', async () => {
    // Prepare
    const item = (id: string, openedAt: number) => ({ pk: 'people', sk: id, id, status: 'open', openedAt, openFlow: 'people' });
    ddb
      .on(QueryCommand, { IndexName: 'openByFlow' })
      .resolvesOnce({ Items: [item('c2', 2)], LastEvaluatedKey: { pk: 'people', sk: 'c2', openFlow: 'people', openedAt: 2 } })
      .resolvesOnce({ Items: [item('c1', 1)] });
    ddb.on(QueryCommand, { KeyConditionExpression: 'pk = :pk' }).resolves({ Items: [{ pk: 'people', sk: 'c0', id: 'c0', status: 'resolved', openedAt: 0, expiresAt: 9 }] });
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });

    // Act
    const open = await store.list('people', 'open');
    const resolved = await store.list('people', 'resolved');

    // Assess
    expect(open).toEqual([
      { id: 'c1', status: 'open', openedAt: 1 },
      { id: 'c2', status: 'open', openedAt: 2 },
    ]);
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 1, { IndexName: 'openByFlow', KeyConditionExpression: 'openFlow = :flow', ExpressionAttributeValues: { ':flow': 'people' } });
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 2, { IndexName: 'openByFlow', ExclusiveStartKey: { pk: 'people', sk: 'c2', openFlow: 'people', openedAt: 2 } });
    expect(resolved).toEqual([{ id: 'c0', status: 'resolved', openedAt: 0 }]);
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 3, { KeyConditionExpression: 'pk = :pk', FilterExpression: '#status = :status', ExpressionAttributeValues: { ':pk': 'people', ':status': 'resolved' } });
  });

  it('lets a DynamoDB error other than the condition through', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });

    // Act / Assess
    await expect(store.markSuperseded('people', 'c1', NOW)).rejects.toThrow('slow down');
  });
});

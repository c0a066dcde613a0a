import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConflictStore } from '../../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbDedupStore } from '../../../functions/adapters/dynamodb-dedup-store';
import { DynamoDbQuarantineStore } from '../../../functions/adapters/dynamodb-quarantine-store';
import type { Conflict } from '../../../functions/core/merge';
import type { QuarantineItem } from '../../../functions/ports';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const NOW = Date.UTC(2026, 0, 15);
const clock = { now: () => NOW };
const ccf = () => Object.assign(new Error('exists'), { name: 'ConditionalCheckFailedException' });

describe('DynamoDbDedupStore', () => {
  beforeEach(() => ddb.reset());

  it('claims an id once with a TTL, treating an expired leftover as absent', async () => {
    // Prepare
    ddb.on(PutCommand).resolvesOnce({}).rejects(ccf());
    const store = new DynamoDbDedupStore({ client, tableName: 'dedup', clock });

    // Act
    const first = await store.claim('contacts/crm', 'msg_1', 86400);
    const repeat = await store.claim('contacts/crm', 'msg_1', 86400);

    // Assess
    expect(first).toBe(true);
    expect(repeat).toBe(false);
    expect(ddb).toHaveReceivedNthCommandWith(PutCommand, 1, {
      TableName: 'dedup',
      Item: { pk: 'contacts/crm#msg_1', expiresAt: NOW / 1000 + 86400 },
      ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
      ExpressionAttributeValues: { ':now': NOW / 1000 },
    });
  });

  it('rethrows other errors and releases a claim by deleting it', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    ddb.on(DeleteCommand).resolves({});
    const store = new DynamoDbDedupStore({ client, tableName: 'dedup', clock });

    // Act / Assess
    await expect(store.claim('s', 'i', 1)).rejects.toThrow('denied');
    await store.release('s', 'i');
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { TableName: 'dedup', Key: { pk: 's#i' } });
  });
});

describe('DynamoDbQuarantineStore', () => {
  beforeEach(() => ddb.reset());

  it('puts items keyed by flow and id with a TTL and lists them newest first', async () => {
    // Prepare
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
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [{ pk: 'contacts', sk: 'a', expiresAt: 1, ...item('a', 1) }, { pk: 'contacts', sk: 'b', expiresAt: 1, ...item('b', 2) }] });
    const store = new DynamoDbQuarantineStore({ client, tableName: 'quarantine', retentionDays: 7 });

    // Act
    await store.put([item('a', NOW)]);
    const listed = await store.list('contacts');

    // Assess
    expect(ddb).toHaveReceivedCommandWith(BatchWriteCommand, {
      RequestItems: { quarantine: [{ PutRequest: { Item: expect.objectContaining({ pk: 'contacts', sk: 'a', expiresAt: NOW / 1000 + 7 * 86400 }) } }] },
    });
    expect(listed.map((i) => i.id)).toEqual(['b', 'a']);
    expect(listed[0]).not.toHaveProperty('pk');
  });
});

describe('DynamoDbConflictStore', () => {
  beforeEach(() => ddb.reset());

  it('opens conflicts idempotently with a conditional put', async () => {
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
      Item: expect.objectContaining({ pk: 'people', sk: 'c1', status: 'open', openedAt: NOW, field: 'email' }),
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  });

  it('answers which conflicts were new, so only those are announced', async () => {
    // Prepare
    ddb.on(PutCommand).callsFake((input: { Item: { sk: string } }) => (input.Item.sk === 'old' ? Promise.reject(ccf()) : Promise.resolve({})));
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });
    const c = (id: string): Conflict => ({ id, flow: 'people', key: 'p1', field: 'email', current: { value: 1, source: 'a', clock: { ts: 1, src: 'a', seq: '1', id: 'x' } }, incoming: { value: 2, source: 'b', clock: { ts: 1, src: 'b', seq: '1', id: 'y' } } });

    // Act / Assess
    expect(await store.open([c('old'), c('new')], NOW)).toEqual(['new']);
  });

  it('resolves with a conditional update on status = open, and answers false when it is not open', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolvesOnce({}).rejects(ccf());
    ddb.on(GetCommand).resolves({ Item: { pk: 'people', sk: 'c1', id: 'c1', status: 'resolved' } });
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });
    const resolution = { resolvedAt: NOW, resolvedBy: 'alice', choice: { choose: 'current' as const }, changeId: 'ch1' };

    // Act
    const first = await store.markResolved('people', 'c1', resolution);
    const second = await store.markResolved('people', 'c1', resolution);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'people', sk: 'c1' },
      ConditionExpression: 'attribute_exists(pk) AND #status = :open',
      ExpressionAttributeValues: expect.objectContaining({ ':resolved': 'resolved', ':by': 'alice', ':change': 'ch1' }),
    });
    expect(await store.get('people', 'c1')).toEqual({ id: 'c1', status: 'resolved' });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { ConsistentRead: true });
  });

  it('supersedes with a conditional update on status = open, and answers false when it is not open', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolvesOnce({}).rejects(ccf());
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });

    // Act
    const first = await store.markSuperseded('people', 'c1', NOW);
    const second = await store.markSuperseded('people', 'c1', NOW);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'conflicts',
      Key: { pk: 'people', sk: 'c1' },
      ConditionExpression: 'attribute_exists(pk) AND #status = :open',
      ExpressionAttributeValues: { ':superseded': 'superseded', ':open': 'open', ':at': NOW },
    });
  });

  it('lets a DynamoDB error other than the condition through', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    const store = new DynamoDbConflictStore({ client, tableName: 'conflicts' });

    // Act / Assess
    await expect(store.markSuperseded('people', 'c1', NOW)).rejects.toThrow('slow down');
  });
});

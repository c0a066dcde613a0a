import 'aws-sdk-client-mock-vitest/extend';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbStateStore } from '../../../functions/adapters/dynamodb-state-store';
import { VersionConflictError, type StoredState } from '../../../functions/ports';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const noWait = { sleep: async () => {}, baseDelayMs: 1 };

const state = (key: string, version: number): StoredState => ({
  flow: 'contacts',
  key,
  version,
  doc: { s: 'lww', k: key },
  view: { data: { id: key }, deleted: false, clocks: {}, hash: 'h' },
  delivered: {},
  updatedAt: 1,
});

const item = (key: string, version: number) => ({ pk: `contacts#${key}`, ...state(key, version) });

describe('DynamoDbStateStore', () => {
  beforeEach(() => ddb.reset());

  it('reads keys with BatchGetItem in chunks of 100 and retries UnprocessedKeys', async () => {
    // Prepare
    const keys = Array.from({ length: 150 }, (_, i) => `k${i}`);
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { state: keys.slice(0, 99).map((k) => item(k, 1)) },
        UnprocessedKeys: { state: { Keys: [{ pk: 'contacts#k99' }] } },
      })
      .resolvesOnce({ Responses: { state: [item('k99', 1)] } })
      .resolves({ Responses: { state: keys.slice(100).map((k) => item(k, 2)) } });
    const store = new DynamoDbStateStore({ client, tableName: 'state', retry: noWait });

    // Act
    const found = await store.getMany('contacts', keys);

    // Assess
    expect(found.size).toBe(150);
    expect(found.get('k149')?.version).toBe(2);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 3);
    expect(ddb).toHaveReceivedNthCommandWith(BatchGetCommand, 2, {
      RequestItems: { state: { Keys: [{ pk: 'contacts#k99' }], ConsistentRead: true } },
    });
    expect(ddb.commandCalls(BatchGetCommand)[0]!.args[0].input.RequestItems!.state!.Keys).toHaveLength(100);
  });

  it('retries a throttled BatchGetItem', async () => {
    // Prepare
    ddb
      .on(BatchGetCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }))
      .resolves({ Responses: { state: [item('a', 3)] } });
    const store = new DynamoDbStateStore({ client, tableName: 'state', retry: noWait });

    // Act
    const found = await store.getMany('contacts', ['a']);

    // Assess
    expect(found.get('a')?.version).toBe(3);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 2);
  });

  it('gives up after bounded attempts when keys stay unprocessed', async () => {
    // Prepare
    ddb.on(BatchGetCommand).resolves({ UnprocessedKeys: { state: { Keys: [{ pk: 'contacts#a' }] } } });
    const store = new DynamoDbStateStore({ client, tableName: 'state', retry: { ...noWait, maxAttempts: 3 } });

    // Act / Assess
    await expect(store.getMany('contacts', ['a'])).rejects.toThrow(/unprocessed after 3 attempts/);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 3);
  });

  it('puts the first version with attribute_not_exists and later ones on the expected version', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    const store = new DynamoDbStateStore({ client, tableName: 'state' });

    // Act
    await store.put(state('a', 1), 0);
    await store.put(state('a', 2), 1);

    // Assess
    expect(ddb).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      TableName: 'state',
      Key: { pk: 'contacts#a' },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(ddb).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      ConditionExpression: '#version = :expected',
      ExpressionAttributeValues: expect.objectContaining({ ':expected': 1, ':version': 2 }),
    });
  });

  it('maps ConditionalCheckFailedException to VersionConflictError', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('failed'), { name: 'ConditionalCheckFailedException' }));
    const store = new DynamoDbStateStore({ client, tableName: 'state' });

    // Act / Assess
    await expect(store.put(state('a', 2), 1)).rejects.toBeInstanceOf(VersionConflictError);
  });

  it('reads one key consistently and marks a delivery only when newer', async () => {
    // Prepare
    ddb.on(GetCommand).resolves({ Item: item('a', 4) });
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('older'), { name: 'ConditionalCheckFailedException' }));
    const store = new DynamoDbStateStore({ client, tableName: 'state' });

    // Act
    const got = await store.get('contacts', 'a');
    await store.markDelivered('contacts', 'a', 'replica', 3, 'h');

    // Assess
    expect(got?.version).toBe(4);
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { ConsistentRead: true, Key: { pk: 'contacts#a' } });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#delivered.#t) OR #delivered.#t.#version < :v)',
      ExpressionAttributeValues: { ':d': { version: 3, hash: 'h' }, ':v': 3 },
    });
  });
});

import 'aws-sdk-client-mock-vitest/extend';
import { BatchGetCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deliveredPk, DynamoDbStateStore, flowTargets, flowViews } from '../../../functions/adapters/dynamodb-state-store';
import { contactsFlow } from '../../fixtures/flows';
import { VersionConflictError, type StoredState } from '../../../functions/ports';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const noWait = { sleep: async () => {}, baseDelayMs: 1 };
/** Flows without targets: reads ask for state items only. */
const none = { contacts: [] };
const views = flowViews([contactsFlow]);

const state = (key: string, version: number): StoredState => ({
  flow: 'contacts',
  key,
  version,
  doc: { s: 'lww', k: key },
  view: { data: { id: key }, deleted: false, clocks: {}, hash: 'h' },
  delivered: {},
  updatedAt: 1,
});

const item = (key: string, version: number) => {
  const { delivered: _, ...rest } = state(key, version);
  return { pk: `contacts#${key}`, ...rest };
};

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
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views, retry: noWait });

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

  it('leaves a throttled BatchGetItem to the SDK client\'s retries: one call from the store, then the error', async () => {
    // Prepare
    ddb
      .on(BatchGetCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }))
      .resolves({ Responses: { state: [item('a', 3)] } });
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views, retry: noWait });

    // Act / Assess
    await expect(store.getMany('contacts', ['a'])).rejects.toThrow('slow down');
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 1);
  });

  it('gives up after bounded attempts when keys stay unprocessed', async () => {
    // Prepare
    ddb.on(BatchGetCommand).resolves({ UnprocessedKeys: { state: { Keys: [{ pk: 'contacts#a' }] } } });
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views, retry: { ...noWait, maxAttempts: 3 } });

    // Act / Assess
    await expect(store.getMany('contacts', ['a'])).rejects.toThrow(/unprocessed after 3 attempts/);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 3);
  });

  it('puts the first version with attribute_not_exists and later ones on the expected version', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views });

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

  it('never writes delivered on the state item', async () => {
    // Prepare
    ddb.on(UpdateCommand).resolves({});
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views });

    // Act
    await store.put({ ...state('a', 2), delivered: { replica: { version: 1, hash: 'h' } } }, 1);

    // Assess
    const input = ddb.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(input.UpdateExpression).not.toMatch(/delivered/);
    expect(Object.values(input.ExpressionAttributeNames ?? {})).not.toContain('delivered');
  });

  it('maps ConditionalCheckFailedException to VersionConflictError', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('failed'), { name: 'ConditionalCheckFailedException' }));
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views });

    // Act / Assess
    await expect(store.put(state('a', 2), 1)).rejects.toBeInstanceOf(VersionConflictError);
  });

  it('reads the delivered marker item of every target of the flow with the state and assembles delivered', async () => {
    // Prepare
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        state: [
          item('a', 4),
          item('b', 2),
          { pk: deliveredPk('contacts', 'replica', 'a'), version: 3, hash: 'h3' },
          { pk: deliveredPk('contacts', 'lake', 'a'), version: 4, hash: 'h4' },
          { pk: deliveredPk('contacts', 'lake', 'b'), version: 2, hash: 'hb' },
          // A marker whose state is missing is ignored.
          { pk: deliveredPk('contacts', 'replica', 'c'), version: 1, hash: 'hc' },
        ],
      },
    });
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: { contacts: ['replica', 'lake'] }, views });

    // Act
    const found = await store.getMany('contacts', ['a', 'b', 'c']);

    // Assess
    expect(found.get('a')?.delivered).toEqual({ replica: { version: 3, hash: 'h3' }, lake: { version: 4, hash: 'h4' } });
    expect(found.get('b')?.delivered).toEqual({ lake: { version: 2, hash: 'hb' } });
    expect(found.has('c')).toBe(false);
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        state: {
          ConsistentRead: true,
          Keys: ['a', 'b', 'c'].flatMap((k) => [{ pk: `contacts#${k}` }, { pk: `~delivered#contacts#replica#${k}` }, { pk: `~delivered#contacts#lake#${k}` }]),
        },
      },
    });
  });

  it('keeps state and marker items of one key together even across BatchGetItem chunks', async () => {
    // Prepare: 3 items per key, so key k33's marker items fall into the second request.
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    ddb.on(BatchGetCommand).callsFake((input: { RequestItems: Record<string, { Keys: { pk: string }[] }> }) => ({
      Responses: {
        state: input.RequestItems.state!.Keys.map(({ pk }) =>
          pk.startsWith('~delivered#') ? { pk, version: 1, hash: pk } : item(pk.slice('contacts#'.length), 1),
        ),
      },
    }));
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: flowTargets([{ id: 'contacts', targets: [{ id: 'replica' }, { id: 'lake' }] }]), views });

    // Act
    const found = await store.getMany('contacts', keys);

    // Assess
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 2);
    expect(found.size).toBe(40);
    expect(found.get('k33')?.delivered).toEqual({
      replica: { version: 1, hash: '~delivered#contacts#replica#k33' },
      lake: { version: 1, hash: '~delivered#contacts#lake#k33' },
    });
  });

  it('reads a delivered map left on the state item by an earlier release, the higher version winning', async () => {
    // Prepare
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        state: [
          { ...item('a', 5), delivered: { replica: { version: 5, hash: 'old5' }, lake: { version: 2, hash: 'old2' } } },
          { pk: deliveredPk('contacts', 'replica', 'a'), version: 4, hash: 'new4' },
          { pk: deliveredPk('contacts', 'lake', 'a'), version: 3, hash: 'new3' },
        ],
      },
    });
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: { contacts: ['replica', 'lake'] }, views });

    // Act
    const got = await store.get('contacts', 'a');

    // Assess
    expect(got?.delivered).toEqual({ replica: { version: 5, hash: 'old5' }, lake: { version: 3, hash: 'new3' } });
  });

  it('refuses to read a flow whose targets it was not given', async () => {
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views });
    await expect(store.getMany('orders', ['a'])).rejects.toThrow(/no targets configured for flow "orders"/);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 0);
  });

  it('reads one key consistently and, once the send lease is lost, marks a delivery in the marker item only when newer', async () => {
    // Prepare
    ddb.on(BatchGetCommand).resolves({ Responses: { state: [item('a', 4)] } });
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('older'), { name: 'ConditionalCheckFailedException' }));
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: { contacts: ['replica'] }, views });

    // Act
    const got = await store.get('contacts', 'a');
    await store.markSent('contacts', 'replica', 'a', 'me', 3, 'h');

    // Assess
    expect(got?.version).toBe(4);
    expect(got?.delivered).toEqual({});
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: { state: { ConsistentRead: true, Keys: [{ pk: 'contacts#a' }, { pk: '~delivered#contacts#replica#a' }] } },
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'state',
      Key: { pk: '~delivered#contacts#replica#a' },
      UpdateExpression: 'SET #ver = :v, #hash = :h',
      ConditionExpression: 'attribute_not_exists(#ver) OR #ver < :v',
      ExpressionAttributeValues: { ':v': 3, ':h': 'h' },
    });
  });

  it('rethrows other errors of markSent', async () => {
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    const store = new DynamoDbStateStore({ client, tableName: 'state', targets: none, views, retry: noWait });
    await expect(store.markSent('contacts', 'replica', 'a', 'me', 3, 'h')).rejects.toThrow('throttled');
  });
});

import { contentHash } from '../../../functions/core/envelope';
import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTargetWriter } from '../../../functions/adapters/dynamodb-target-writer';
import type { TargetWrite } from '../../../functions/ports';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

const change = (deleted = false): TargetWrite => ({
  flow: 'contacts',
  key: 'c1',
  targetId: 'replica',
  version: 7,
  ts: 1000,
  view: { data: deleted ? null : { id: 'c1', name: 'Ada' }, deleted, clocks: {}, hash: 'hash7' },
});

const cancelled = (codes: string[]) =>
  Object.assign(new Error('Transaction cancelled'), { name: 'TransactionCanceledException', CancellationReasons: codes.map((Code) => ({ Code })) });

describe('DynamoDbTargetWriter', () => {
  beforeEach(() => ddb.reset());

  it('moves the delivered marker item (not the state item) and puts the item with its marker in one transaction', async () => {
    // Prepare
    ddb.on(TransactWriteCommand).resolves({});
    const writer = new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: 'replica', keyAttribute: 'id' });

    // Act
    const outcome = await writer.write(change());

    // Assess
    expect(outcome).toBe('written');
    expect(ddb).toHaveReceivedCommandWith(TransactWriteCommand, {
      TransactItems: [
        {
          Update: {
            TableName: 'state',
            Key: { pk: '~delivered#contacts#replica#c1' },
            UpdateExpression: 'SET #ver = :v, #hash = :h',
            ConditionExpression: 'attribute_not_exists(pk) OR #ver < :v',
            ExpressionAttributeNames: { '#ver': 'version', '#hash': 'hash' },
            ExpressionAttributeValues: { ':v': 7, ':h': 'hash7' },
          },
        },
        {
          Put: expect.objectContaining({
            TableName: 'replica',
            Item: { id: 'c1', name: 'Ada', _syncline: { flow: 'contacts', target: 'replica', version: 7, hash: 'hash7', item: contentHash({ id: 'c1', name: 'Ada' }), ts: 1000 } },
            ConditionExpression: 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v',
          }),
        },
      ],
    });
  });

  it("writes the winning change's seq and id into the marker when given", async () => {
    // Prepare
    ddb.on(TransactWriteCommand).resolves({});
    const writer = new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: 'replica', keyAttribute: 'id' });

    // Act
    await writer.write({ ...change(), clock: { seq: '42', id: 'evt-1' } });

    // Assess
    const items = ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!;
    expect(items[1]!.Put!.Item!._syncline).toEqual({
      flow: 'contacts', target: 'replica', version: 7, hash: 'hash7', item: contentHash({ id: 'c1', name: 'Ada' }), ts: 1000, seq: '42', id: 'evt-1',
    });
  });

  it('a replay writes the version the target has again, but never an older one', async () => {
    // Prepare
    ddb.on(TransactWriteCommand).resolves({});
    const writer = new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: 'replica', keyAttribute: 'id' });

    // Act
    await writer.write({ ...change(), replay: true });

    // Assess
    const items = ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!;
    expect(items[0]!.Update!.ConditionExpression).toBe('attribute_not_exists(pk) OR #ver <= :v');
    expect(items[1]!.Put!.ConditionExpression).toBe('attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver <= :v');
  });

  it('deletes the item for a deleted view under the same version condition', async () => {
    // Prepare
    ddb.on(TransactWriteCommand).resolves({});
    const writer = new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: 'replica', keyAttribute: 'id' });

    // Act
    await writer.write(change(true));

    // Assess
    const items = ddb.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!;
    expect(items[0]!.Update).toMatchObject({ Key: { pk: '~delivered#contacts#replica#c1' }, ExpressionAttributeValues: { ':v': 7, ':h': 'hash7' } });
    expect(items[1]!.Delete).toMatchObject({
      TableName: 'replica',
      Key: { id: 'c1' },
      ConditionExpression: 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v',
    });
  });

  it('reports skipped when the transaction is cancelled by version conditions', async () => {
    // Prepare
    ddb.on(TransactWriteCommand).rejects(cancelled(['None', 'ConditionalCheckFailed']));
    const writer = new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: 'replica', keyAttribute: 'id' });

    // Act
    const outcome = await writer.write(change());

    // Assess
    expect(outcome).toBe('skipped');
  });

  it('throws on throttling or transaction conflicts so the message is retried', async () => {
    // Prepare
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['ThrottlingError', 'None']))
      .rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    const writer = new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: 'replica', keyAttribute: 'id' });

    // Act / Assess
    await expect(writer.write(change())).rejects.toThrow('Transaction cancelled');
    await expect(writer.write(change())).rejects.toThrow('throttled');
  });
});

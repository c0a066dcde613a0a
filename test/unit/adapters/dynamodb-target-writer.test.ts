import { contentHash } from '../../../functions/core/envelope';
import 'aws-sdk-client-mock-vitest/extend';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTargetWriter } from '../../../functions/adapters/dynamodb-target-writer';
import type { TargetWrite } from '../../../functions/ports';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

const TABLE_ARN = 'arn:aws:dynamodb:eu-west-1:111122223333:table/people';

const change = (deleted = false, version = 7): TargetWrite => ({
  flow: 'contacts',
  key: 'c1',
  targetId: 'replica',
  version,
  ts: 1000,
  view: { data: deleted ? null : { id: 'c1', name: 'Ada' }, deleted, clocks: {}, hash: `hash${version}` },
});

const conditionFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, ...(item ? { Item: item as never } : {}) });

const writer = () => new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: TABLE_ARN, keyAttribute: 'id' });

describe('DynamoDbTargetWriter', () => {
  beforeEach(() => ddb.reset());

  it('puts the item with its marker by table ARN, conditional on the version, then records the delivery; no transaction', async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});

    // Act
    const outcome = await writer().write(change());

    // Assess
    expect(outcome).toBe('written');
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_ARN,
      Item: { id: 'c1', name: 'Ada', _syncline: { flow: 'contacts', target: 'replica', version: 7, hash: 'hash7', item: contentHash({ id: 'c1', name: 'Ada' }), ts: 1000 } },
      ConditionExpression: 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v',
      ExpressionAttributeValues: { ':v': 7 },
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'state',
      Key: { pk: '~delivered#contacts#replica#c1' },
      ConditionExpression: 'attribute_not_exists(#ver) OR #ver < :v',
      ExpressionAttributeValues: { ':v': 7, ':h': 'hash7' },
    });
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    // The target is written before the marker moves: a crash in between leaves a retry that records it.
    const order = ddb.calls().map((c) => c.args[0].constructor.name);
    expect(order).toEqual(['PutCommand', 'UpdateCommand']);
  });

  it('writes the target with its own client (the table region) and the marker with the store client', async () => {
    // Prepare
    const target = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
    const seen: string[] = [];
    ddb.on(PutCommand).callsFake(async (_input, getClient) => { seen.push(`put:${await getClient().config.region()}`); return {}; });
    ddb.on(UpdateCommand).callsFake(async (_input, getClient) => { seen.push(`update:${await getClient().config.region()}`); return {}; });
    const regional = new DynamoDbTargetWriter({ client, targetClient: target, stateTable: 'state', tableName: TABLE_ARN, keyAttribute: 'id' });

    // Act
    await regional.write(change());

    // Assess
    expect(seen).toEqual(['put:eu-west-1', 'update:us-east-1']);
  });

  it("writes the winning change's seq and id into the marker when given", async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});

    // Act
    await writer().write({ ...change(), clock: { seq: '42', id: 'evt-1' } });

    // Assess
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input.Item!._syncline).toEqual({
      flow: 'contacts', target: 'replica', version: 7, hash: 'hash7', item: contentHash({ id: 'c1', name: 'Ada' }), ts: 1000, seq: '42', id: 'evt-1',
    });
  });

  it('a replay writes the version the target has again, but never an older one', async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});

    // Act
    await writer().write({ ...change(), replay: true });

    // Assess
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input.ConditionExpression).toBe('attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver <= :v');
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input.ConditionExpression).toBe('attribute_not_exists(#ver) OR #ver <= :v');
  });

  it('deletes the item for a deleted view under the same version condition', async () => {
    // Prepare
    ddb.on(DeleteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});

    // Act
    const outcome = await writer().write(change(true));

    // Assess
    expect(outcome).toBe('written');
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE_ARN,
      Key: { id: 'c1' },
      ConditionExpression: 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v',
    });
  });

  it('reports skipped when the target already has this version or a newer one, and still records the delivery', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(conditionFailed());
    ddb.on(UpdateCommand).resolves({});

    // Act
    const outcome = await writer().write(change());

    // Assess
    expect(outcome).toBe('skipped');
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });

  it('is fine when the same version was already recorded (a retry after the marker moved)', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(conditionFailed());
    ddb.on(UpdateCommand).rejects(conditionFailed({ pk: { S: '~delivered#contacts#replica#c1' }, version: { N: '7' } }));

    // Act / Assess
    await expect(writer().write(change())).resolves.toBe('skipped');
  });

  it('takes its write back when a newer version was recorded meanwhile (an older upsert after a newer delete)', async () => {
    // Prepare: the item was deleted at version 8, so the put of version 7 found no item and succeeded.
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).rejects(conditionFailed({ pk: { S: '~delivered#contacts#replica#c1' }, version: { N: '8' } }));
    ddb.on(DeleteCommand).resolves({});

    // Act
    const outcome = await writer().write(change());

    // Assess: deleted again, but only while the item still holds version 7.
    expect(outcome).toBe('skipped');
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { TableName: TABLE_ARN, Key: { id: 'c1' }, ConditionExpression: '#s.#ver = :v', ExpressionAttributeValues: { ':v': 7 } });
  });

  it('throws on throttling so the message is retried', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));

    // Act / Assess
    await expect(writer().write(change())).rejects.toThrow('throttled');
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
  });
});

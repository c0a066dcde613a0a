import { contentHash } from '../../../functions/core/envelope';
import 'aws-sdk-client-mock-vitest/extend';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, DynamoDBDocumentClient, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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

/** The answer of a tombstone read: the delivered marker of c1 at `version`, or none. */
const tombstone = (version?: number) => ({ Responses: { state: version === undefined ? [] : [{ pk: '~delivered#contacts#replica#c1', version }] } });

const writer = () => new DynamoDbTargetWriter({ client, stateTable: 'state', tableName: TABLE_ARN, keyAttribute: 'id' });

describe('DynamoDbTargetWriter', () => {
  beforeEach(() => ddb.reset());

  it('puts the item with its marker by table ARN, conditional on the version; no transaction, no state-table write', async () => {
    // Prepare
    ddb.on(PutCommand).resolves({ Attributes: { id: 'c1', name: 'Old' } });

    // Act
    const outcome = await writer().write({ ...change(), note: { at: 2000, eventIds: ['e1', 'e2', 'e3', 'e4'] } });

    // Assess
    expect(outcome).toBe('written');
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE_ARN,
      Item: {
        id: 'c1',
        name: 'Ada',
        _syncline: { flow: 'contacts', target: 'replica', version: 7, hash: 'hash7', item: contentHash({ id: 'c1', name: 'Ada' }), ts: 1000, at: 2000, ev: ['e1', 'e2', 'e3'] },
      },
      ConditionExpression: 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v',
      ExpressionAttributeValues: { ':v': 7 },
      ReturnValues: 'ALL_OLD',
    });
    // It replaced an item, so no delete can have raced it: nothing else is called.
    expect(ddb.calls().map((c) => c.args[0].constructor.name)).toEqual(['PutCommand']);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('writes the target with its own client (the table region) and reads the tombstone with the store client', async () => {
    // Prepare
    const target = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
    const seen: string[] = [];
    ddb.on(PutCommand).callsFake(async (_input, getClient) => { seen.push(`put:${await getClient().config.region()}`); return {}; });
    ddb.on(BatchGetCommand).callsFake(async (_input, getClient) => { seen.push(`get:${await getClient().config.region()}`); return tombstone(); });
    const regional = new DynamoDbTargetWriter({ client, targetClient: target, stateTable: 'state', tableName: TABLE_ARN, keyAttribute: 'id' });

    // Act
    await regional.write(change());

    // Assess
    expect(seen).toEqual(['put:eu-west-1', 'get:us-east-1']);
  });

  it("writes the winning change's seq and id into the marker when given", async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchGetCommand).resolves(tombstone());

    // Act
    await writer().write({ ...change(), clock: { seq: '42', id: 'evt-1' } });

    // Assess
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input.Item!._syncline).toEqual({
      flow: 'contacts', target: 'replica', version: 7, hash: 'hash7', item: contentHash({ id: 'c1', name: 'Ada' }), ts: 1000, seq: '42', id: 'evt-1',
    });
  });

  it('a replay writes the version the target has again, but never an older one', async () => {
    // Prepare
    ddb.on(PutCommand).resolves({ Attributes: { id: 'c1' } });
    ddb.on(DeleteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});

    // Act
    await writer().write({ ...change(), replay: true });
    await writer().write({ ...change(true), replay: true });

    // Assess
    expect(ddb.commandCalls(PutCommand)[0]!.args[0].input.ConditionExpression).toBe('attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver <= :v');
    expect(ddb.commandCalls(UpdateCommand)[0]!.args[0].input.ConditionExpression).toBe('attribute_not_exists(#ver) OR #ver <= :v');
    expect(ddb.commandCalls(DeleteCommand)[0]!.args[0].input.ConditionExpression).toBe('attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver <= :v');
  });

  it('records the tombstone before it deletes the item, under the same version condition', async () => {
    // Prepare
    ddb.on(DeleteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});

    // Act
    const outcome = await writer().write(change(true));

    // Assess
    expect(outcome).toBe('written');
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'state',
      Key: { pk: '~delivered#contacts#replica#c1' },
      ConditionExpression: 'attribute_not_exists(#ver) OR #ver < :v',
      ExpressionAttributeValues: { ':v': 7, ':h': 'hash7' },
    });
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE_ARN,
      Key: { id: 'c1' },
      ConditionExpression: 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v',
    });
    expect(ddb.calls().map((c) => c.args[0].constructor.name)).toEqual(['UpdateCommand', 'DeleteCommand']);
  });

  it('deletes again when its own tombstone is already recorded (a retry), and skips when a newer one is', async () => {
    // Prepare
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(DeleteCommand).resolves({});
    ddb.on(BatchGetCommand).resolvesOnce(tombstone(7)).resolvesOnce(tombstone(9));

    // Act
    const retry = await writer().write(change(true));
    const older = await writer().write(change(true));

    // Assess
    expect([retry, older]).toEqual(['written', 'skipped']);
    expect(ddb).toHaveReceivedCommandTimes(DeleteCommand, 1);
  });

  it('reports skipped when the target already has this version or a newer one', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(conditionFailed());

    // Act
    const outcome = await writer().write(change());

    // Assess
    expect(outcome).toBe('skipped');
    expect(ddb.calls()).toHaveLength(1);
  });

  it('takes its write back when it created the item and a newer delete is recorded (an older upsert after a newer delete)', async () => {
    // Prepare: the item was deleted at version 8, so the put of version 7 found no item and succeeded.
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchGetCommand).resolves(tombstone(8));
    ddb.on(DeleteCommand).resolves({});

    // Act
    const outcome = await writer().write(change());

    // Assess: deleted again, but only while the item still holds version 7.
    expect(outcome).toBe('skipped');
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, { RequestItems: { state: expect.objectContaining({ Keys: [{ pk: '~delivered#contacts#replica#c1' }], ConsistentRead: true }) } });
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { TableName: TABLE_ARN, Key: { id: 'c1' }, ConditionExpression: '#s.#ver = :v', ExpressionAttributeValues: { ':v': 7 } });
  });

  it('keeps the item it created when the tombstone is older or absent', async () => {
    // Prepare
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchGetCommand).resolvesOnce(tombstone(5)).resolvesOnce(tombstone());

    // Act / Assess
    expect(await writer().write(change())).toBe('written');
    expect(await writer().write(change())).toBe('written');
    expect(ddb).not.toHaveReceivedCommand(DeleteCommand);
  });

  it('throws on throttling so the message is retried', async () => {
    // Prepare
    ddb.on(PutCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));

    // Act / Assess
    await expect(writer().write(change())).rejects.toThrow('throttled');
    expect(ddb).not.toHaveReceivedCommand(BatchGetCommand);
  });

  it('reads the tombstones of the items a batch creates with one BatchGetItem, once every put of the batch is answered', async () => {
    // Prepare: c1 replaces an item, c2 and c3 create theirs; c3 was deleted at version 8 meanwhile.
    const w = writer();
    ddb.on(PutCommand).callsFake(async (input: { Item: { id: string } }) => {
      if (input.Item.id === 'c3') await new Promise((r) => setTimeout(r, 20));
      return input.Item.id === 'c1' ? { Attributes: { id: 'c1' } } : {};
    });
    ddb.on(BatchGetCommand).resolves({ Responses: { state: [{ pk: '~delivered#contacts#replica#c3', version: 8 }] } });
    ddb.on(DeleteCommand).resolves({});
    const of = (key: string): TargetWrite => ({ ...change(), key, view: { ...change().view, data: { id: key, name: 'Ada' } } });

    // Act: started together, as a delivery batch starts them.
    const outcomes = await Promise.all(['c1', 'c2', 'c3'].map((key) => w.write(of(key))));

    // Assess: c2's read waited for c3's slower put, and both went out in one call.
    expect(outcomes).toEqual(['written', 'written', 'skipped']);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 1);
    const read = ddb.commandCalls(BatchGetCommand)[0]!.args[0].input.RequestItems!.state!;
    expect(read.Keys).toEqual([{ pk: '~delivered#contacts#replica#c2' }, { pk: '~delivered#contacts#replica#c3' }]);
    expect(read.ConsistentRead).toBe(true);
    expect(ddb).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { Key: { id: 'c3' }, ConditionExpression: '#s.#ver = :v' });
  });

  it('fails the writes that wait for a tombstone read that fails, so their messages are retried', async () => {
    // Prepare
    const w = writer();
    ddb.on(PutCommand).callsFake(async (input: { Item: { id: string } }) => (input.Item.id === 'c1' ? { Attributes: { id: 'c1' } } : {}));
    ddb.on(BatchGetCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    const of = (key: string): TargetWrite => ({ ...change(), key, view: { ...change().view, data: { id: key, name: 'Ada' } } });

    // Act
    const outcomes = await Promise.allSettled(['c1', 'c2'].map((key) => w.write(of(key))));

    // Assess: the write that replaced an item needed no read and stands.
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
  });
});

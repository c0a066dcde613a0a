import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { inflateRawSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbAuditLog } from '../../../functions/adapters/dynamodb-audit-log';
import { PartialWriteError, type AuditEntry } from '../../../functions/ports';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const noWait = { sleep: async () => {}, baseDelayMs: 1 };
const AT = Date.UTC(2026, 0, 15, 12, 34, 56, 789);

const entry = (i: number): AuditEntry => ({
  flow: 'contacts',
  key: `k${i}`,
  step: 'resolve',
  at: AT,
  source: 'crm',
  eventId: `e${i}`,
  outcome: 'won',
  version: 1,
});

describe('DynamoDbAuditLog', () => {
  beforeEach(() => ddb.reset());

  it('writes an item per entry (pk, sk, at, expiresAt) and one window item per hour, all out of the time index', async () => {
    // Prepare
    ddb.on(BatchWriteCommand).resolves({});
    const log = new DynamoDbAuditLog({ client, tableName: 'audit', retentionDays: 30 });

    // Act
    await log.write([entry(1), entry(2)]);

    // Assess
    const items = ddb.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!.audit!.map((r) => r.PutRequest!.Item!);
    expect(items).toHaveLength(3);
    expect(items[0]).toEqual(
      expect.objectContaining({ pk: 'contacts#k1', sk: '2026-01-15T12:34:56.789Z#e1#resolve#won', at: AT, expiresAt: Math.floor(AT / 1000) + 30 * 86400, outcome: 'won' }),
    );
    expect(items[0]!.flowHour).toBeUndefined();
    const window = items[2]!;
    expect(window).toEqual(expect.objectContaining({ pk: 'contacts#~window#2026-01-15T12', at: AT, expiresAt: Math.floor(AT / 1000) + 30 * 86400 }));
    expect(window.flowHour).toBeUndefined();
    expect(String(window.sk)).toMatch(/^2026-01-15T12:34:56.789Z#[0-9a-z]+$/);
    const held = JSON.parse(inflateRawSync(window.z as Uint8Array).toString('utf8')) as unknown[];
    // What status and replay read; event ids, reasons and the rest stay in the entry items.
    expect(held).toEqual([1, 2].map((i) => ({ key: `k${i}`, step: 'resolve', at: AT, outcome: 'won', version: 1 })));
  });

  it('writes no entry item for an entry that lineage finds elsewhere, and still counts it in the window', async () => {
    // Prepare
    ddb.on(BatchWriteCommand).resolves({});
    const log = new DynamoDbAuditLog({ client, tableName: 'audit' });

    // Act
    await log.write([{ ...entry(1), heldBy: 'state' }, { ...entry(2), outcome: 'captured', heldBy: 'decision' }, entry(3)]);
    await log.archive([entry(4)]);

    // Assess
    const [first, second] = ddb.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems!.audit!.map((r) => r.PutRequest!.Item!));
    expect(first!.filter((i) => i.z === undefined).map((i) => i.eventId)).toEqual(['e3']);
    const window = first!.find((i) => i.z !== undefined)!;
    expect((JSON.parse(inflateRawSync(window.z as Uint8Array).toString('utf8')) as AuditEntry[]).map((e) => [e.key, e.heldBy])).toEqual([['k1', undefined], ['k2', undefined], ['k3', undefined]]);
    // Archived entries leave a state item: an entry item each, no window (they were counted when first written).
    expect(second!.map((i) => i.eventId)).toEqual(['e4']);
  });

  it('writes in chunks of 25 and retries UnprocessedItems until done', async () => {
    // Prepare
    const entries = Array.from({ length: 30 }, (_, i) => entry(i));
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({
        UnprocessedItems: { audit: [{ PutRequest: { Item: { pk: 'contacts#k0', sk: 'x' } } }, { PutRequest: { Item: { pk: 'contacts#k1', sk: 'y' } } }] },
      })
      .resolvesOnce({ UnprocessedItems: { audit: [{ PutRequest: { Item: { pk: 'contacts#k1', sk: 'y' } } }] } })
      .resolves({});
    const log = new DynamoDbAuditLog({ client, tableName: 'audit', retry: noWait });

    // Act
    await log.write(entries);

    // Assess
    const calls = ddb.commandCalls(BatchWriteCommand);
    expect(calls).toHaveLength(4);
    expect(calls[0]!.args[0].input.RequestItems!.audit).toHaveLength(25);
    expect(calls[1]!.args[0].input.RequestItems!.audit).toHaveLength(2);
    expect(calls[2]!.args[0].input.RequestItems!.audit).toHaveLength(1);
    // The last five entries and the window item holding all thirty.
    expect(calls[3]!.args[0].input.RequestItems!.audit).toHaveLength(6);
  });

  it('leaves throttling of the call to the SDK client: one BatchWriteItem from the log, then the error', async () => {
    // Prepare
    ddb.on(BatchWriteCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    const log = new DynamoDbAuditLog({ client, tableName: 'audit', retry: { ...noWait, maxAttempts: 4 } });

    // Act / Assess
    await expect(log.write([entry(1)])).rejects.toThrow('throttled');
    expect(ddb).toHaveReceivedCommandTimes(BatchWriteCommand, 1);
  });

  it('writes the other entries when DynamoDB refuses one, and names only the refused one', async () => {
    // Prepare: a chunk holding k2 is refused for its key; alone, every other entry goes in.
    const refused = Object.assign(new Error('One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes'), {
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400 },
    });
    ddb.on(BatchWriteCommand).rejects(refused);
    ddb.on(PutCommand).callsFake((input: { Item: { eventId: string } }) => {
      if (input.Item.eventId === 'e2') throw refused;
      return {};
    });
    const log = new DynamoDbAuditLog({ client, tableName: 'audit', retry: noWait });

    // Act
    const err = await log.write([entry(1), entry(2), entry(3)]).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PartialWriteError);
    expect((err as PartialWriteError).failed).toEqual([1]);
    expect((err as PartialWriteError).message).toBe('1 item(s) refused: ValidationException (partition key over 2048 bytes)');
    expect(ddb.commandCalls(PutCommand).map((c) => c.args[0].input.Item?.eventId)).toEqual(['e1', 'e2', 'e3', undefined]);
  });

  it('fails every entry a refused window item holds, so their records are retried', async () => {
    // Prepare
    const refused = Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    ddb.on(BatchWriteCommand).rejects(refused);
    ddb.on(PutCommand).callsFake((input: { Item: { z?: unknown } }) => {
      if (input.Item.z !== undefined) throw refused;
      return {};
    });
    const log = new DynamoDbAuditLog({ client, tableName: 'audit', retry: noWait });

    // Act
    const err = await log.write([entry(1), entry(2)]).catch((e: unknown) => e);

    // Assess
    expect((err as PartialWriteError).failed).toEqual([0, 1]);
  });

  it('throws when items stay unprocessed', async () => {
    // Prepare
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: { audit: [{ PutRequest: { Item: { pk: 'p', sk: 's' } } }] } });
    const log = new DynamoDbAuditLog({ client, tableName: 'audit', retry: { ...noWait, maxAttempts: 3 } });

    // Act / Assess
    await expect(log.write([entry(1)])).rejects.toThrow(/1 items still unprocessed after 3 attempts/);
  });

  it('reads lineage oldest first across pages', async () => {
    // Prepare
    const item = { pk: 'contacts#k1', sk: 's', ...entry(1), expiresAt: 1, flowHour: 'x' };
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: [item], LastEvaluatedKey: { pk: 'contacts#k1', sk: 's' } })
      .resolves({ Items: [{ ...item, outcome: 'delivered', target: 'replica' }] });
    const log = new DynamoDbAuditLog({ client, tableName: 'audit' });

    // Act
    const lineage = await log.lineage('contacts', 'k1');

    // Assess
    expect(lineage.map((e) => e.outcome)).toEqual(['won', 'delivered']);
    expect(lineage[0]).toEqual(entry(1));
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 1, {
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'contacts#k1' },
      ScanIndexForward: true,
    });
  });
});

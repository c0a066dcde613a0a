import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbAuditLog } from '../../../functions/adapters/dynamodb-audit-log';
import { DynamoDbQuarantineStore } from '../../../functions/adapters/dynamodb-quarantine-store';
import { deliveredPk, DynamoDbStateStore, flowStateOptions } from '../../../functions/adapters/dynamodb-state-store';
import { SqsPublisher } from '../../../functions/adapters/sqs-publisher';
import { eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { mergeChanges } from '../../../functions/core/merge';
import { compileTransform } from '../../../functions/core/transform/pipeline';
import { createDeliverTargetHandler } from '../../../functions/handlers/deliver-target-handler';
import { createResolveHandler } from '../../../functions/handlers/resolve-handler';
import type { DeliveryMessage } from '../../../functions/handlers/step-messages';
import { createTransformHandler } from '../../../functions/handlers/transform-handler';
import type { BatchTargetWriter, TargetWrite } from '../../../functions/ports';
import { FakeClock, InMemoryConflictStore, InMemoryQuarantineStore, RecordingLogger, sqsEvent } from '../../fixtures/fakes';
import { capturedContact, contactsFlow, HASH_KEY, ordersFlow } from '../../fixtures/flows';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const sqsClient = new SQSClient({ region: 'us-east-1' });
const noWait = { sleep: async () => {}, baseDelayMs: 1 };

/** What DynamoDB answers for an item it cannot take, as the service sends it. */
const refusal = () =>
  Object.assign(new Error('One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes'), {
    name: 'ValidationException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });

/** SendMessageBatch that accepts every entry and records the bodies per queue. */
function acceptSqs(): Map<string, Record<string, unknown>[]> {
  const sent = new Map<string, Record<string, unknown>[]>();
  sqs.on(SendMessageBatchCommand).callsFake((input: { QueueUrl: string; Entries: { Id: string; MessageBody: string }[] }) => {
    sent.set(input.QueueUrl, [...(sent.get(input.QueueUrl) ?? []), ...input.Entries.map((e) => JSON.parse(e.MessageBody))]);
    return { Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: e.Id, MD5OfMessageBody: '' })), Failed: [] };
  });
  return sent;
}

/** BatchWriteItem (and the single PutItem the adapter falls back to) refusing the items `refuse` picks. */
function refuseWrites(refuse: (item: Record<string, unknown>) => boolean): Record<string, unknown>[] {
  const written: Record<string, unknown>[] = [];
  ddb.on(BatchWriteCommand).callsFake((input: { RequestItems: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> }) => {
    const items = Object.values(input.RequestItems).flat().map((r) => r.PutRequest.Item);
    if (items.some(refuse)) throw refusal();
    written.push(...items);
    return { UnprocessedItems: {} };
  });
  ddb.on(PutCommand).callsFake((input: { Item: Record<string, unknown> }) => {
    if (refuse(input.Item)) throw refusal();
    written.push(input.Item);
    return {};
  });
  return written;
}

const failures = (res: { batchItemFailures: { itemIdentifier: string }[] }) => res.batchItemFailures.map((f) => f.itemIdentifier).sort();

describe('poison isolation per step, with the real adapters on a faulting AWS', () => {
  beforeEach(() => {
    ddb.reset();
    sqs.reset();
  });

  describe('transform', () => {
    const RESOLVE = 'https://sqs.local/contacts-resolve';
    const envelope = capturedContact;
    const handler = (logger = new RecordingLogger()) =>
      createTransformHandler({
        flow: contactsFlow,
        transformer: compileTransform(contactsFlow, { hashKey: HASH_KEY }),
        publisher: new SqsPublisher({ client: sqsClient, retry: noWait }),
        resolveQueueUrl: RESOLVE,
        audit: new DynamoDbAuditLog({ client: doc, tableName: 'audit', retry: noWait }),
        quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: 'quarantine', retry: noWait }),
        clock: new FakeClock(),
        logger,
      });

    it('fails only the messages whose audit or quarantine item DynamoDB refuses; the others are sent to resolve once', async () => {
      // Prepare: the filter drops m2 (its audit entry is refused); m3 has no key (its quarantine item is refused).
      const bodies = [
        envelope(0, { id: 'a', status: 'active' }),
        envelope(1, { id: 'b', status: 'active' }),
        envelope(2, { id: 'f', status: 'test' }),
        envelope(3, { status: 'active' }),
        envelope(4, { id: 'c', status: 'active' }),
      ];
      const sent = acceptSqs();
      refuseWrites((item) => item.eventId === bodies[2]!.id || item.sk === bodies[3]!.id);

      // Act
      const res = await handler()(sqsEvent(bodies));

      // Assess
      expect(failures(res)).toEqual(['m2', 'm3']);
      expect((sent.get(RESOLVE) ?? []).map((e) => e.key)).toEqual(['a', 'b', 'c']);
      expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
    });

    it('fails only the owner of the one audit item refused among several messages that each own one', async () => {
      // Prepare: three records the filter drops (each owns its audit entry, written in one call); m1's is refused.
      const bodies = [envelope(0, { id: 'f0', status: 'test' }), envelope(1, { id: 'f1', status: 'test' }), envelope(2, { id: 'f2', status: 'test' }), envelope(3, { id: 'a', status: 'active' })];
      const sent = acceptSqs();
      const written = refuseWrites((item) => item.eventId === bodies[1]!.id);

      // Act
      const res = await handler()(sqsEvent(bodies));

      // Assess: m0's and m2's entries went in, and their messages are done.
      expect(failures(res)).toEqual(['m1']);
      expect(written.map((i) => i.eventId).filter((id) => id !== undefined).sort()).toEqual([bodies[0]!.id, bodies[2]!.id].sort());
      expect((sent.get(RESOLVE) ?? []).map((e) => e.key)).toEqual(['a']);
    });

    it('logs a refused write by error name and kind, never by the SDK message that quotes the record value', async () => {
      // Prepare: the marshaller's own message names the value it could not convert.
      acceptSqs();
      ddb.on(BatchWriteCommand).rejects(new Error('Number 12345678901234567890 is greater than Number.MAX_SAFE_INTEGER. Use NumberValue from @aws-sdk/lib-dynamodb.'));
      ddb.on(PutCommand).rejects(new Error('Number 12345678901234567890 is greater than Number.MAX_SAFE_INTEGER. Use NumberValue from @aws-sdk/lib-dynamodb.'));
      const logger = new RecordingLogger();

      // Act
      const res = await handler(logger)(sqsEvent([envelope(0, { id: 'f', status: 'test' })]));

      // Assess
      expect(failures(res)).toEqual(['m0']);
      expect(logger.text()).not.toContain('12345678901234567890');
      expect(logger.lines.find((l) => l.message === 'audit write failed')?.attributes?.error).toBe('PartialWriteError');
    });

    it('quarantines a record whose key is too long to store, with the reason, and passes its batch-mates', async () => {
      // Prepare
      const long = 'x'.repeat(2101);
      const sent = acceptSqs();
      const written = refuseWrites((item) => String(item.pk).length > 2048);

      // Act
      const res = await handler()(sqsEvent([envelope(0, { id: 'a', status: 'active' }), envelope(1, { id: long, status: 'active' }), envelope(2, { id: 'b', status: 'active' })]));

      // Assess
      expect(res.batchItemFailures).toEqual([]);
      expect((sent.get(RESOLVE) ?? []).map((e) => e.key)).toEqual(['a', 'b']);
      const q = written.find((i) => i.sk === eventId('contacts', 'crm', 'msg', 1));
      expect(q?.reason).toBe('key is 2101 bytes; the longest key flow "contacts" carries is 1015 bytes (1024 with the flow id and "#")');
      expect(written.find((i) => i.outcome === 'quarantined')).toMatchObject({ pk: 'contacts#', key: '' });
    });
  });

  describe('resolve', () => {
    const QUEUES = { replica: 'https://sqs.local/orders-deliver-replica', archive: 'https://sqs.local/orders-deliver-archive' };
    const change = (n: number, key: string): ChangeEnvelope => ({
      v: 1,
      id: eventId('orders', 'shop', 'w', n),
      flow: 'orders',
      source: 'shop',
      key,
      op: 'upsert',
      data: { orderId: key, n },
      ts: 1_000 + n,
      seq: `w#${n}`,
      lineage: [],
    });
    const handler = () =>
      createResolveHandler({
        flow: ordersFlow,
        stateStore: new DynamoDbStateStore({ client: doc, tableName: 'state', ...flowStateOptions([ordersFlow]), retry: noWait }),
        audit: new DynamoDbAuditLog({ client: doc, tableName: 'audit', retry: noWait }),
        conflicts: new InMemoryConflictStore(),
        quarantine: new InMemoryQuarantineStore(),
        publisher: new SqsPublisher({ client: sqsClient, retry: noWait }),
        deliverQueueUrls: QUEUES,
        clock: new FakeClock(),
      });

    it('reads key by key when BatchGetItem is refused for one key: only that message fails, the others are stored and sent once', async () => {
      // Prepare: DynamoDB refuses any read that holds the key "bad".
      ddb.on(BatchGetCommand).callsFake((input: { RequestItems: Record<string, { Keys: { pk: string }[] }> }) => {
        const keys = Object.values(input.RequestItems).flatMap((r) => r.Keys);
        if (keys.some((k) => k.pk.includes('bad'))) throw refusal();
        return { Responses: { state: [] }, UnprocessedKeys: {} };
      });
      ddb.on(UpdateCommand).resolves({});
      refuseWrites(() => false);
      const sent = acceptSqs();

      // Act
      const res = await handler()(sqsEvent([change(1, 'o1'), change(2, 'o2'), change(3, 'bad'), change(4, 'o3')]));

      // Assess
      expect(failures(res)).toEqual(['m2']);
      expect(ddb.commandCalls(UpdateCommand).map((c) => String(c.args[0].input.Key?.pk).replace('orders#', '')).sort()).toEqual(['o1', 'o2', 'o3']);
      for (const url of Object.values(QUEUES)) expect((sent.get(url) ?? []).map((m) => m.key).sort()).toEqual(['o1', 'o2', 'o3']);
    });

    it('fails an envelope whose key is too long to store without sending it to DynamoDB, and resolves the rest', async () => {
      // Prepare
      ddb.on(BatchGetCommand).resolves({ Responses: { state: [] }, UnprocessedKeys: {} });
      ddb.on(UpdateCommand).resolves({});
      refuseWrites(() => false);
      acceptSqs();

      // Act
      const res = await handler()(sqsEvent([change(1, 'o1'), change(2, 'y'.repeat(2101))]));

      // Assess
      expect(failures(res)).toEqual(['m1']);
      const readKeys = ddb.commandCalls(BatchGetCommand).flatMap((c) => Object.values(c.args[0].input.RequestItems!).flatMap((r) => r.Keys!.map((k) => String(k.pk))));
      expect(readKeys.every((pk) => pk.length < 100)).toBe(true);
      expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    });

    it('fails only the key whose state write (which holds its decision entries) is refused, and does not notify its targets before its retry', async () => {
      // Prepare
      ddb.on(BatchGetCommand).resolves({ Responses: { state: [] }, UnprocessedKeys: {} });
      ddb.on(UpdateCommand).callsFake((input: { Key: { pk: string } }) => {
        if (input.Key.pk === 'orders#o2') throw refusal();
        return {};
      });
      refuseWrites(() => false);
      const sent = acceptSqs();

      // Act
      const res = await handler()(sqsEvent([change(1, 'o1'), change(2, 'o2'), change(3, 'o3')]));

      // Assess
      expect(failures(res)).toEqual(['m1']);
      for (const url of Object.values(QUEUES)) expect((sent.get(url) ?? []).map((m) => m.key).sort()).toEqual(['o1', 'o3']);
    });
  });

  describe('deliver', () => {
    const flow = ordersFlow;
    class RecordingWriter implements BatchTargetWriter {
      readonly written: TargetWrite[] = [];
      async writeBatch(changes: readonly TargetWrite[]) {
        this.written.push(...changes);
        return new Map(changes.map((c) => [c.key, { status: 'written' as const }]));
      }
    }
    const stateItem = (key: string) => {
      const merged = mergeChanges(flow, undefined, [
        { v: 1, id: `e-${key}`, flow: 'orders', source: 'shop', key, op: 'upsert', data: { orderId: key }, ts: 1000, seq: '1', lineage: [] },
      ]);
      return { pk: `orders#${key}`, flow: 'orders', key, version: 1, doc: merged.doc, view: merged.view, updatedAt: 1 };
    };
    const msg = (key: string): DeliveryMessage => ({ v: 1, flow: 'orders', key, version: 1, hash: 'h', ts: 1, eventIds: [`e-${key}`] });

    it('delivers every key once when the state read is refused for one key, and fails only that key', async () => {
      // Prepare
      ddb.on(BatchGetCommand).callsFake((input: { RequestItems: Record<string, { Keys: { pk: string }[] }> }) => {
        const keys = Object.values(input.RequestItems).flatMap((r) => r.Keys);
        if (keys.some((k) => k.pk.includes('bad'))) throw refusal();
        return { Responses: { state: keys.filter((k) => k.pk.startsWith('orders#')).map((k) => stateItem(k.pk.slice('orders#'.length))) }, UnprocessedKeys: {} };
      });
      ddb.on(UpdateCommand).resolves({});
      const audited = refuseWrites(() => false);
      const writer = new RecordingWriter();
      const targetId = flow.targets[1]!.id;
      const store = new DynamoDbStateStore({ client: doc, tableName: 'state', ...flowStateOptions([flow]), retry: noWait });
      const handler = createDeliverTargetHandler({
        flow,
        targetId,
        stateStore: store,
        leases: store,
        writer,
        audit: new DynamoDbAuditLog({ client: doc, tableName: 'audit', retry: noWait }),
        clock: new FakeClock(),
      });

      // Act
      const res = await handler(sqsEvent([msg('o1'), msg('bad'), msg('o2')]));

      // Assess
      expect(failures(res)).toEqual(['m1']);
      expect(writer.written.map((w) => w.key).sort()).toEqual(['o1', 'o2']);
      // Each key's send lease taken, then its delivery recorded (for lineage too) in its marker, which lets the lease go.
      const updates = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
      expect(updates).toHaveLength(4);
      const leases = updates.filter((u) => u.UpdateExpression?.startsWith('SET sendOwner'));
      expect(leases.map((m) => m.Key?.pk).sort()).toEqual([deliveredPk('orders', targetId, 'o1'), deliveredPk('orders', targetId, 'o2')]);
      const marks = updates.filter((u) => !u.UpdateExpression?.startsWith('SET sendOwner'));
      expect(marks.map((m) => m.Key?.pk).sort()).toEqual([deliveredPk('orders', targetId, 'o1'), deliveredPk('orders', targetId, 'o2')]);
      expect(marks.every((m) => m.ExpressionAttributeValues?.[':at'] === new FakeClock().now())).toBe(true);
      expect(audited.filter((i) => i.outcome === 'delivered')).toEqual([]);
    });
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { mergeChanges } from '../../../functions/core/merge';
import { createDeliverDynamoDbHandler } from '../../../functions/handlers/deliver-dynamodb-handler';
import { MAX_RECEIVE_COUNT } from '../../../functions/plan/plan';
import type { DeliveryMessage } from '../../../functions/handlers/step-messages';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryStateStore, InMemoryTargetWriter, RecordingMetrics, sqsEvent } from '../../fixtures/fakes';
import { contactsFlow } from '../../fixtures/flows';

function seedState(store: InMemoryStateStore, key: string, version: number, data: Record<string, unknown> | null, ts = 1000) {
  const merged = mergeChanges(contactsFlow, undefined, [
    { v: 1, id: `e-${key}-${version}`, flow: 'contacts', source: 'crm', key, op: data ? 'upsert' : 'delete', ...(data ? { data } : {}), ts, seq: '1', lineage: [] },
  ]);
  store.seed({ flow: 'contacts', key, version, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 1 });
  return merged.view;
}

const msg = (key: string, version: number, eventIds = [`e-${key}-${version}`]): DeliveryMessage => ({ v: 1, flow: 'contacts', key, version, hash: 'h', ts: 1, eventIds });

describe('deliver-dynamodb handler', () => {
  let state: InMemoryStateStore;
  let writer: InMemoryTargetWriter;
  let audit: InMemoryAuditLog;
  let metrics: RecordingMetrics;
  let handler: ReturnType<typeof createDeliverDynamoDbHandler>;

  beforeEach(() => {
    state = new InMemoryStateStore();
    writer = new InMemoryTargetWriter();
    audit = new InMemoryAuditLog();
    metrics = new RecordingMetrics();
    handler = createDeliverDynamoDbHandler({ flow: contactsFlow, targetId: 'replica', stateStore: state, writer, audit, clock: new FakeClock(), metrics });
  });

  it('coalesces messages of a key and writes its current state once, audited as delivered', async () => {
    // Prepare
    const view = seedState(state, 'c1', 3, { id: 'c1', name: 'Ada' }, 4242);

    // Act
    const res = await handler(sqsEvent([msg('c1', 2), msg('c1', 3)]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    // The winning change's seq and id go along, for the target's origin marker.
    expect(writer.writes).toEqual([{ flow: 'contacts', key: 'c1', targetId: 'replica', version: 3, view, ts: 4242, clock: { seq: '1', id: 'e-c1-3' }, note: { at: new FakeClock().now(), eventIds: expect.any(Array) } }]);
    expect(audit.entries).toMatchObject([
      { outcome: 'delivered', step: 'deliver', key: 'c1', version: 3, target: 'replica', detail: { eventIds: ['e-c1-2', 'e-c1-3'] } },
    ]);
    expect(metrics.counts.Delivered).toBe(1);
    // One lag sample: from the change's source time to the delivery.
    expect(metrics.lags).toEqual([new FakeClock().now() - 4242]);
  });

  it("names first, in the delivery's record, the change that made the delivered version, also when only an earlier version's message carried it", async () => {
    // Prepare: version 3 was made by e-made; the batch holds only version 2's message.
    const view = seedState(state, 'c1', 3, { id: 'c1' });
    const made = { flow: 'contacts', key: 'c1', step: 'resolve' as const, at: 1, source: 'crm', eventId: 'e-made', outcome: 'won' as const, version: 3 };
    const older = { ...made, eventId: 'e-older', version: 2, source: 'erp' };
    state.seed({ flow: 'contacts', key: 'c1', version: 3, doc: (await state.get('contacts', 'c1'))!.doc, view, delivered: {}, updatedAt: 1, recent: [older, made] });

    // Act
    await handler(sqsEvent([msg('c1', 2)]));

    // Assess: the audit entry names the source of that change too.
    expect(writer.writes[0]!.note!.eventIds).toEqual(['e-made', 'e-c1-2']);
    expect(audit.entries).toMatchObject([{ outcome: 'delivered', version: 3, source: 'crm' }]);
  });

  it('audits a stale delivery as skipped, not as an error', async () => {
    // Prepare
    seedState(state, 'c1', 3, { id: 'c1' });
    writer.items.set('c1', { version: 5, data: { id: 'c1' }, hash: 'newer' });

    // Act
    const res = await handler(sqsEvent([msg('c1', 3)]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(audit.entries).toMatchObject([{ outcome: 'skipped', version: 3 }]);
    expect(writer.items.get('c1')?.version).toBe(5);
  });

  it('fails a message when the state read is older than the message, and only that one', async () => {
    // Prepare
    seedState(state, 'c1', 2, { id: 'c1' });
    seedState(state, 'c2', 1, { id: 'c2' });

    // Act
    const res = await handler(sqsEvent([msg('c1', 3), msg('c2', 1), msg('missing', 1)]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm2' }]);
    expect(writer.writes.map((w) => w.key)).toEqual(['c2']);
    expect(metrics.counts.DeliveryFailed).toBe(2);
  });

  it('delivers a deleted view and fails a throttled write for retry', async () => {
    // Prepare
    seedState(state, 'gone', 2, null);
    seedState(state, 'c2', 1, { id: 'c2' });
    writer.failWrites = 1;

    // Act
    const first = await handler(sqsEvent([msg('c2', 1)]));
    const second = await handler(sqsEvent([msg('gone', 2)]));

    // Assess
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(second.batchItemFailures).toEqual([]);
    expect(writer.writes[0]!.view.deleted).toBe(true);
  });

  it('audits a key as failed when its write fails on the last receive before the DLQ', async () => {
    // Prepare
    seedState(state, 'c2', 1, { id: 'c2' });
    writer.failWrites = 1;
    const event = sqsEvent([msg('c2', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(audit.entries).toMatchObject([{ key: 'c2', step: 'deliver', outcome: 'failed', target: 'replica', version: 1, detail: { attempts: MAX_RECEIVE_COUNT, parked: 'dlq' } }]);
    expect(audit.entries[0]!.reason).toMatch(/^gave up after 5 attempts, the message goes to the DLQ: /);
  });

  it('parks an item DynamoDB refuses for what it holds in the DLQ at once, audited with why; its batch-mates are delivered', async () => {
    // Prepare: DynamoDB answers the big record's put as it does an item over 400 KB.
    const publisher = new FakePublisher();
    const DLQ = 'https://sqs.local/contacts-deliver-replica-dlq';
    const parking = createDeliverDynamoDbHandler({ flow: contactsFlow, targetId: 'replica', stateStore: state, writer, audit, clock: new FakeClock(), metrics, park: { publisher, dlqUrl: DLQ } });
    seedState(state, 'big', 1, { id: 'big' });
    seedState(state, 'c1', 1, { id: 'c1' });
    const write = writer.write.bind(writer);
    writer.write = async (change) => {
      if (change.key === 'big') throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException', $metadata: {} });
      return write(change);
    };

    // Act
    const res = await parking(sqsEvent([msg('big', 1), msg('c1', 1)]));

    // Assess: acknowledged, in the DLQ as it came, audited failed with a reason that quotes no value.
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.bodies<DeliveryMessage>(DLQ)).toMatchObject([{ key: 'big', version: 1 }]);
    expect(writer.writes.map((w) => w.key)).toEqual(['c1']);
    expect(audit.entries.find((e) => e.key === 'big')).toMatchObject({ step: 'deliver', outcome: 'failed', target: 'replica', reason: 'DynamoDB refused the item: ValidationException (item over 400 KB)', detail: { parked: 'dlq' } });
  });

  it('parks a refused item only once its audit is written (else it is retried whole, and parked by the retry)', async () => {
    // Prepare
    const publisher = new FakePublisher();
    const DLQ = 'https://sqs.local/contacts-deliver-replica-dlq';
    const parking = createDeliverDynamoDbHandler({ flow: contactsFlow, targetId: 'replica', stateStore: state, writer, audit, clock: new FakeClock(), metrics, park: { publisher, dlqUrl: DLQ } });
    seedState(state, 'big', 1, { id: 'big' });
    writer.write = async () => {
      throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException', $metadata: {} });
    };
    audit.failWrites = 1;

    // Act
    const first = await parking(sqsEvent([msg('big', 1)]));
    const retry = await parking(sqsEvent([msg('big', 1)], 'r'));

    // Assess: parked once, by the retry whose audit went in.
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(retry.batchItemFailures).toEqual([]);
    expect(publisher.bodies(DLQ)).toHaveLength(1);
    expect(audit.entries.filter((e) => e.outcome === 'failed')).toHaveLength(1);
  });

  it('retries what the table configuration causes (a key schema mismatch) and a refused delete, rather than parking them', async () => {
    // Prepare
    const publisher = new FakePublisher();
    const DLQ = 'https://sqs.local/contacts-deliver-replica-dlq';
    const parking = createDeliverDynamoDbHandler({ flow: contactsFlow, targetId: 'replica', stateStore: state, writer, audit, clock: new FakeClock(), metrics, park: { publisher, dlqUrl: DLQ } });
    seedState(state, 'c1', 1, { id: 'c1' });
    seedState(state, 'gone', 2, null);
    writer.write = async (change) => {
      const message = change.view.deleted ? 'Item size has exceeded the maximum allowed size' : 'The provided key element does not match the schema';
      throw Object.assign(new Error(message), { name: 'ValidationException', $metadata: {} });
    };

    // Act
    const res = await parking(sqsEvent([msg('c1', 1), msg('gone', 2)]));

    // Assess: both fail for SQS to retry; nothing parked, nothing audited as failed yet.
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m0', 'm1']);
    expect(publisher.bodies(DLQ)).toEqual([]);
    expect(audit.entries.filter((e) => e.outcome === 'failed')).toEqual([]);
  });

  it('fails a refused item until the DLQ when there is no DLQ to park it in, and a throttled write is retried', async () => {
    // Prepare
    seedState(state, 'big', 1, { id: 'big' });
    seedState(state, 'c2', 1, { id: 'c2' });
    const write = writer.write.bind(writer);
    writer.write = async (change) => {
      if (change.key === 'big') throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException', $metadata: {} });
      if (change.key === 'c2') throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
      return write(change);
    };

    // Act
    const res = await handler(sqsEvent([msg('big', 1), msg('c2', 1)]));

    // Assess
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m0', 'm1']);
    expect(audit.entries).toMatchObject([{ key: 'big', outcome: 'failed', detail: { parked: 'retries then dlq' } }]);
  });

  it('audits a key as given up when the state read itself fails on its last receive', async () => {
    // Prepare
    seedState(state, 'c2', 1, { id: 'c2' });
    state.getMany = async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
    };
    const event = sqsEvent([msg('c2', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(audit.entries).toMatchObject([{ key: 'c2', step: 'deliver', outcome: 'failed', target: 'replica', version: 1, detail: { parked: 'dlq' } }]);
    expect(audit.entries[0]!.reason).toMatch(/^gave up after 5 attempts, the message goes to the DLQ: state read failed/);
  });

  it('fails invalid messages without touching the target', async () => {
    // Act
    const res = await handler(sqsEvent(['nope', { ...msg('c1', 1), flow: 'other' }, { v: 1 }]));

    // Assess
    expect(res.batchItemFailures).toHaveLength(3);
    expect(writer.writes).toEqual([]);
  });
});

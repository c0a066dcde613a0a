import { beforeEach, describe, expect, it } from 'vitest';
import { mergeChanges } from '../../../functions/core/merge';
import { createDeliverTargetHandler } from '../../../functions/handlers/deliver-target-handler';
import type { DeliveryMessage } from '../../../functions/handlers/step-messages';
import type { BatchTargetWriter, TargetResult, TargetWrite } from '../../../functions/ports';
import { flowSchema } from '../../../functions/config/schema';
import { MAX_RECEIVE_COUNT } from '../../../functions/plan/plan';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryStateStore, RecordingMetrics, sqsEvent } from '../../fixtures/fakes';

const flow = flowSchema.parse({
  id: 'contacts',
  key: ['id'],
  sources: [{ id: 'crm', type: 'webhook' }],
  targets: [{ id: 'api', type: 'http', url: 'https://api.example.com/contacts/{key}' }],
});
const DLQ = 'https://sqs.local/contacts-deliver-api-dlq';

function seed(store: InMemoryStateStore, key: string, version: number, data: Record<string, unknown> | null, delivered: Record<string, { version: number; hash: string }> = {}) {
  const merged = mergeChanges(flow, undefined, [
    { v: 1, id: `e-${key}-${version}`, flow: 'contacts', source: 'crm', key, op: data ? 'upsert' : 'delete', ...(data ? { data } : {}), ts: 1000 + version, seq: '1', lineage: [] },
  ]);
  store.seed({ flow: 'contacts', key, version, doc: merged.doc, view: merged.view, delivered, updatedAt: 1 });
  return merged.view;
}
const msg = (key: string, version: number): DeliveryMessage => ({ v: 1, flow: 'contacts', key, version, hash: 'h', ts: 1, eventIds: [`e-${key}-${version}`] });

/** A writer answering per key from a table of results (default: written). */
class ScriptedWriter implements BatchTargetWriter {
  readonly calls: TargetWrite[][] = [];
  constructor(readonly results: Record<string, TargetResult> = {}) {}
  async writeBatch(changes: readonly TargetWrite[]) {
    this.calls.push([...changes]);
    return new Map(changes.map((c) => [c.key, this.results[c.key] ?? { status: 'written' as const }]));
  }
}

/** A target whose write of `version` hangs until released, as a slow HTTP request does; `landed` lists versions as writes end. */
function slowFirstWrite(version: number) {
  const landed: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const writer: BatchTargetWriter = {
    async writeBatch(changes) {
      if (changes[0]!.version === version) await gate;
      landed.push(...changes.map((c) => c.version));
      return new Map(changes.map((c) => [c.key, { status: 'written' as const }]));
    },
  };
  return { writer, landed, release };
}

describe('deliver handler of batch targets (s3, eventbridge, http, sqs)', () => {
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let publisher: FakePublisher;
  let metrics: RecordingMetrics;
  const noWait = async () => {};
  const make = (writer: BatchTargetWriter, park = true, sleep: (ms: number) => Promise<void> = noWait) =>
    createDeliverTargetHandler({ flow, targetId: 'api', stateStore: state, leases: state, writer, audit, clock: new FakeClock(), metrics, sleep, ...(park ? { park: { publisher, dlqUrl: DLQ } } : {}) });

  beforeEach(() => {
    state = new InMemoryStateStore();
    audit = new InMemoryAuditLog();
    publisher = new FakePublisher();
    metrics = new RecordingMetrics();
  });

  it('coalesces by key, writes the current state in one batch, records the delivered version and audits it', async () => {
    // Prepare
    const v = seed(state, 'c1', 3, { id: 'c1', name: 'Ada' });
    seed(state, 'c2', 1, { id: 'c2' });
    const writer = new ScriptedWriter();

    // Act
    const res = await make(writer)(sqsEvent([msg('c1', 2), msg('c1', 3), msg('c2', 1)]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(writer.calls).toHaveLength(1);
    expect(writer.calls[0]!.map((c) => [c.key, c.version])).toEqual([['c1', 3], ['c2', 1]]);
    expect(writer.calls[0]![0]!.view).toEqual(v);
    // The marker also records when and which changes it delivered: lineage reads the delivery there.
    expect((await state.get('contacts', 'c1'))!.delivered.api).toEqual({ version: 3, hash: v.hash, at: new FakeClock().now(), eventIds: [expect.any(String), expect.any(String)] });
    expect(audit.outcomes()).toEqual(['delivered', 'delivered']);
    expect(audit.entries.map((e) => e.heldBy)).toEqual(['marker', 'marker']);
    expect(metrics.counts.Delivered).toBe(2);
  });

  it('sends a replayed key the target already has, and records the replay on its marker (when, and who asked)', async () => {
    // Prepare
    const v = seed(state, 'c1', 3, { id: 'c1', name: 'Ada' }, { api: { version: 3, hash: 'h' } });
    const writer = new ScriptedWriter();

    // Act
    const res = await make(writer)(sqsEvent([{ ...msg('c1', 3), replay: { by: 'bob', at: 5 } }]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(writer.calls.flat().map((c) => [c.key, c.version])).toEqual([['c1', 3]]);
    expect((await state.get('contacts', 'c1'))!.delivered.api).toMatchObject({ version: 3, hash: v.hash, at: new FakeClock().now(), replayedBy: 'bob' });
  });

  it('never moves the target backwards: a version already delivered is skipped and audited, not written', async () => {
    // Prepare
    seed(state, 'c1', 3, { id: 'c1' }, { api: { version: 3, hash: 'x' } });
    const writer = new ScriptedWriter();

    // Act
    const res = await make(writer)(sqsEvent([msg('c1', 2)]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(writer.calls).toEqual([]);
    expect(audit.entries).toMatchObject([{ outcome: 'skipped', version: 3, target: 'api' }]);
  });

  it('fails only the keys the writer could not deliver yet, for the SQS retry', async () => {
    // Prepare
    seed(state, 'c1', 1, { id: 'c1' });
    seed(state, 'c2', 1, { id: 'c2' });
    const writer = new ScriptedWriter({ c2: { status: 'retry', reason: 'HTTP 503 after 3 attempts' } });

    // Act
    const res = await make(writer)(sqsEvent([msg('c1', 1), msg('c2', 1)]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect((await state.get('contacts', 'c2'))!.delivered.api).toBeUndefined();
    expect(audit.outcomes()).toEqual(['delivered']);
    expect(metrics.counts.DeliveryFailed).toBe(1);
  });

  it('audits a key as failed, with why, when its message fails on the last receive before the DLQ', async () => {
    // Prepare: the queue's redrive policy moves a message to the DLQ after its fifth receive.
    seed(state, 'c1', 1, { id: 'c1' });
    seed(state, 'c2', 1, { id: 'c2' });
    const writer = new ScriptedWriter({ c1: { status: 'retry', reason: 'HTTP 503 after 3 attempts' }, c2: { status: 'retry', reason: 'HTTP 503 after 3 attempts' } });
    const event = sqsEvent([msg('c1', 1), msg('c2', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);
    event.Records[1]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT - 1);

    // Act
    const res = await make(writer)(event);

    // Assess: both retried; only the one out of retries is a decision.
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }]);
    expect(audit.entries).toMatchObject([{ key: 'c1', step: 'deliver', outcome: 'failed', target: 'api', version: 1, eventId: 'e-c1-1' }]);
    expect(audit.entries[0]!.reason).toBe(`gave up after ${MAX_RECEIVE_COUNT} attempts, the message goes to the DLQ: delivery of c1 to "api" failed: HTTP 503 after 3 attempts`);
  });

  it('sends a key the writer never tried back to the queue on its last receive, instead of failing it into the DLQ', async () => {
    // Prepare: the invocation's time ran out before c1 and c2 were sent; c1 is on its last receive, c2 is not.
    const OWN = 'https://sqs.local/contacts-deliver-api';
    seed(state, 'c1', 1, { id: 'c1' });
    seed(state, 'c2', 1, { id: 'c2' });
    const untried = { status: 'retry' as const, reason: 'time budget of the invocation spent (last: not tried)', untried: true };
    const writer = new ScriptedWriter({ c1: untried, c2: untried });
    const event = sqsEvent([msg('c1', 1), msg('c2', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);
    const requeue = { publisher, queueUrl: () => OWN };
    const handler = createDeliverTargetHandler({ flow, targetId: 'api', stateStore: state, leases: state, writer, audit, clock: new FakeClock(), metrics, sleep: noWait, park: { publisher, dlqUrl: DLQ }, requeue });

    // Act
    const res = await handler(event);

    // Assess: c1 goes back as a new message (receives of its own), acknowledged and not audited as given up; c2 is retried.
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(publisher.bodies<DeliveryMessage>(OWN)).toEqual([msg('c1', 1)]);
    expect(publisher.bodies(DLQ)).toEqual([]);
    expect(audit.entries.filter((e) => e.outcome === 'failed')).toEqual([]);
  });

  it('holds back the keys an API paused: retried ones by the pause, untried ones on their last receive sent back delayed by it', async () => {
    // Prepare: a 429 asked for a minute; c1 was refused, c2 and c3 were not sent; c3 is on its last receive.
    const OWN = 'https://sqs.local/contacts-deliver-api';
    const clock = new FakeClock();
    const until = clock.now() + 60_000;
    for (const k of ['c1', 'c2', 'c3']) seed(state, k, 1, { id: k });
    const untried = { status: 'retry' as const, reason: 'HTTP 429 from the API: not sent until …', untried: true, notBefore: until };
    const writer = new ScriptedWriter({ c1: { status: 'retry', reason: 'HTTP 429 asks to retry after 60s', notBefore: until }, c2: untried, c3: untried });
    const event = sqsEvent([msg('c1', 1), msg('c2', 1), msg('c3', 1)]);
    event.Records[2]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);
    const handler = createDeliverTargetHandler({ flow, targetId: 'api', stateStore: state, leases: state, writer, audit, clock, metrics, sleep: noWait, requeue: { publisher, queueUrl: () => OWN } });

    // Act
    const res = await handler(event);

    // Assess
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }], heldUntil: { m0: until, m1: until } });
    expect(publisher.bodies<DeliveryMessage>(OWN)).toEqual([msg('c3', 1)]);
    expect(publisher.delays.get('m2')).toBe(60);
  });

  it('audits an untried key as given up when sending it back fails on its last receive', async () => {
    // Prepare
    const OWN = 'https://sqs.local/contacts-deliver-api';
    seed(state, 'c1', 1, { id: 'c1' });
    const writer = new ScriptedWriter({ c1: { status: 'retry', reason: 'time budget of the invocation spent (last: not tried)', untried: true } });
    const event = sqsEvent([msg('c1', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);
    publisher.failWhen = (_m, url) => url === OWN;
    const requeue = { publisher, queueUrl: () => OWN };
    const handler = createDeliverTargetHandler({ flow, targetId: 'api', stateStore: state, leases: state, writer, audit, clock: new FakeClock(), metrics, sleep: noWait, requeue });

    // Act
    const res = await handler(event);

    // Assess: failed into the DLQ, and lineage says why.
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(audit.entries).toMatchObject([{ key: 'c1', outcome: 'failed' }]);
    expect(audit.entries[0]!.reason).toMatch(/^gave up after \d+ attempts, the message goes to the DLQ: sending untried records back to the queue failed/);
  });

  it('fails into the DLQ a key that was tried and failed on its last receive, even with a queue to send keys back to', async () => {
    // Prepare
    seed(state, 'c1', 1, { id: 'c1' });
    const writer = new ScriptedWriter({ c1: { status: 'retry', reason: 'time budget of the invocation spent (last: HTTP 503)' } });
    const event = sqsEvent([msg('c1', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);
    const requeue = { publisher, queueUrl: () => 'https://sqs.local/contacts-deliver-api' };
    const handler = createDeliverTargetHandler({ flow, targetId: 'api', stateStore: state, leases: state, writer, audit, clock: new FakeClock(), metrics, sleep: noWait, requeue });

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(publisher.calls).toBe(0);
    expect(audit.entries).toMatchObject([{ key: 'c1', outcome: 'failed' }]);
  });

  it('audits a key as given up when the state read itself fails on its last receive', async () => {
    // Prepare: the state table is unreachable; c1 is on its last receive, c2 has retries left.
    seed(state, 'c1', 1, { id: 'c1' });
    seed(state, 'c2', 1, { id: 'c2' });
    state.getMany = async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
    };
    const event = sqsEvent([msg('c1', 1), msg('c2', 1)]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);

    // Act
    const res = await make(new ScriptedWriter())(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }]);
    expect(audit.entries).toMatchObject([{ key: 'c1', step: 'deliver', outcome: 'failed', target: 'api', version: 1 }]);
    expect(audit.entries[0]!.reason).toMatch(/^gave up after \d+ attempts, the message goes to the DLQ: state read failed/);
  });

  it('parks a rejected record in the DLQ at once, acknowledged, with the response body in the audit entry', async () => {
    // Prepare
    seed(state, 'bad', 2, { id: 'bad' });
    seed(state, 'ok', 1, { id: 'ok' });
    const writer = new ScriptedWriter({ bad: { status: 'rejected', reason: 'PUT answered 400', detail: { status: 400, body: '{"error":"name required"}' } } });
    const event = sqsEvent([msg('bad', 2), msg('ok', 1)]);

    // Act
    const res = await make(writer)(event);

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.sent.get(DLQ)).toEqual([{ id: 'm0', body: event.Records[0]!.body }]);
    expect(audit.entries.find((e) => e.key === 'bad')).toMatchObject({
      outcome: 'failed',
      reason: 'PUT answered 400',
      detail: { status: 400, body: '{"error":"name required"}', parked: 'dlq' },
    });
    expect(metrics.counts.DeliveryRejected).toBe(1);
  });

  it('falls back to failing a rejected record when it cannot be parked (SQS moves it to the DLQ later)', async () => {
    // Prepare
    seed(state, 'bad', 1, { id: 'bad' });
    publisher.throwSends = 1;
    const writer = new ScriptedWriter({ bad: { status: 'rejected', reason: 'PUT answered 422' } });

    // Act
    const res = await make(writer)(sqsEvent([msg('bad', 1)]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
  });

  it('retries a message whose state read is older than it, and delivers a delete as the current state', async () => {
    // Prepare
    seed(state, 'lag', 1, { id: 'lag' });
    seed(state, 'gone', 2, null);
    const writer = new ScriptedWriter();

    // Act
    const res = await make(writer)(sqsEvent([msg('lag', 2), msg('gone', 2)]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(writer.calls[0]!.map((c) => [c.key, c.view.deleted])).toEqual([['gone', true]]);
    // The delete's own clock, not the epoch: S3 partitions, EventBridge event times and SQS bodies carry it.
    expect(writer.calls[0]![0]!.ts).toBe(1002);
  });

  it('never lets an older delivery land after a newer one: a key is sent by one delivery at a time', async () => {
    // Prepare: a target whose first write of c1 hangs until released, as a slow HTTP request does
    seed(state, 'c1', 5, { id: 'c1', name: 'Ada' });
    const { writer, landed, release } = slowFirstWrite(5);

    // Act: v6 is resolved while v5 is in flight; its delivery comes in, then is retried once v5 has landed
    const first = make(writer)(sqsEvent([msg('c1', 5)]));
    await new Promise((resolve) => setTimeout(resolve, 10));
    seed(state, 'c1', 6, { id: 'c1', name: 'Ada Lovelace' }, (await state.get('contacts', 'c1'))!.delivered);
    const second = await make(writer)(sqsEvent([msg('c1', 6)], 'n'));
    release();
    const firstRes = await first;
    const retry = await make(writer)(sqsEvent([msg('c1', 6)], 'n'));

    // Assess
    expect(second.batchItemFailures).toEqual([{ itemIdentifier: 'n0' }]);
    expect(firstRes.batchItemFailures).toEqual([]);
    expect(retry.batchItemFailures).toEqual([]);
    expect(landed).toEqual([5, 6]);
    expect((await state.get('contacts', 'c1'))!.delivered.api?.version).toBe(6);
    expect(state.leases.size).toBe(0);
  });

  it('waits a little for a key another delivery is sending, then sends the newer version itself', async () => {
    // Prepare: v5 of c1 is in flight when the delivery of v6 comes in
    seed(state, 'c1', 5, { id: 'c1', name: 'Ada' });
    const { writer, landed, release } = slowFirstWrite(5);
    const first = make(writer)(sqsEvent([msg('c1', 5)]));
    await new Promise((resolve) => setTimeout(resolve, 10));
    seed(state, 'c1', 6, { id: 'c1', name: 'Ada Lovelace' }, (await state.get('contacts', 'c1'))!.delivered);
    const waits: number[] = [];
    // While the second delivery waits for the lease, the first one's send ends.
    const whileWaiting = async (ms: number) => {
      waits.push(ms);
      release();
      await first;
    };

    // Act
    const second = await make(writer, true, whileWaiting)(sqsEvent([msg('c1', 6)], 'n'));

    // Assess
    expect(second.batchItemFailures).toEqual([]);
    expect(waits).toEqual([100]);
    expect(landed).toEqual([5, 6]);
    expect((await state.get('contacts', 'c1'))!.delivered.api?.version).toBe(6);
  });
});

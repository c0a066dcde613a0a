import { beforeEach, describe, expect, it } from 'vitest';
import { eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { mergeChanges } from '../../../functions/core/merge';
import type { FlowConfig } from '../../../functions/config/schema';
import { StateTooLargeError } from '../../../functions/ports';
import { createResolveHandler } from '../../../functions/handlers/resolve-handler';
import type { DeliveryMessage } from '../../../functions/handlers/step-messages';
import { MAX_RECEIVE_COUNT } from '../../../functions/plan/plan';
import {
  FakeClock,
  FakePublisher,
  InMemoryAuditLog,
  InMemoryConflictStore,
  InMemoryQuarantineStore,
  InMemoryStateStore,
  RecordingMetrics,
  sqsEvent,
} from '../../fixtures/fakes';
import { manualFlow, ordersFlow } from '../../fixtures/flows';

const QUEUES = { replica: 'https://sqs.local/orders-deliver-replica', archive: 'https://sqs.local/orders-deliver-archive' };

function change(flow: FlowConfig, source: string, n: number, key: string, data: Record<string, unknown> | undefined, ts: number): ChangeEnvelope {
  return {
    v: 1,
    id: eventId(flow.id, source, 'w', n),
    flow: flow.id,
    source,
    key,
    op: data ? 'upsert' : 'delete',
    ...(data ? { data } : {}),
    ts,
    seq: `w#${n}`,
    lineage: [],
  };
}

describe('resolve handler', () => {
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let conflicts: InMemoryConflictStore;
  let publisher: FakePublisher;
  let metrics: RecordingMetrics;
  const make = (flow: FlowConfig = ordersFlow, queues: Record<string, string> = QUEUES) =>
    createResolveHandler({ flow, stateStore: state, audit, conflicts, quarantine: new InMemoryQuarantineStore(), publisher, deliverQueueUrls: queues, clock: new FakeClock(), metrics });

  beforeEach(() => {
    state = new InMemoryStateStore();
    audit = new InMemoryAuditLog();
    conflicts = new InMemoryConflictStore();
    publisher = new FakePublisher();
    metrics = new RecordingMetrics();
  });

  it('merges again, rather than quarantining, a change found too large against a state another writer has since changed', async () => {
    // Prepare: the key at version 1; its first write is refused as too large while another writer stores version 2.
    const quarantine = new InMemoryQuarantineStore();
    await createResolveHandler({ flow: ordersFlow, stateStore: state, audit, conflicts, quarantine, publisher, deliverQueueUrls: QUEUES, clock: new FakeClock() })(
      sqsEvent([change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1', note: 'long' }, 1000)]),
    );
    let refused = false;
    state.beforePut = async (next) => {
      if (refused) return;
      refused = true;
      const v1 = (await state.get(next.flow, next.key))!;
      state.items.set(`${next.flow}#${next.key}`, { ...v1, version: 2 });
      throw new StateTooLargeError(next.flow, next.key, 500_000);
    };

    // Act
    const res = await createResolveHandler({ flow: ordersFlow, stateStore: state, audit, conflicts, quarantine, publisher, deliverQueueUrls: QUEUES, clock: new FakeClock() })(
      sqsEvent([change(ordersFlow, 'erp', 1, 'o1', { orderId: 'o1', status: 'paid' }, 2000)]),
    );

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect((await quarantine.list(ordersFlow.id)).items).toEqual([]);
    expect(await state.get(ordersFlow.id, 'o1')).toMatchObject({ version: 3, view: { data: { orderId: 'o1', status: 'paid' } } });
  });

  it('coalesces two envelopes of one key into one write, audits both and notifies every target once', async () => {
    // Prepare
    const a = change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1', status: 'new' }, 1000);
    const b = change(ordersFlow, 'erp', 1, 'o1', { orderId: 'o1', status: 'paid' }, 2000);

    // Act
    const res = await make()(sqsEvent([a, b]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(state.puts).toHaveLength(1);
    expect(state.puts[0]).toMatchObject({ expectedVersion: 0, state: { version: 1, view: { data: { orderId: 'o1', status: 'paid' } } } });
    expect(audit.entries.map((e) => [e.eventId, e.step, e.version])).toEqual([
      [a.id, 'resolve', 1],
      [b.id, 'resolve', 1],
    ]);
    for (const url of Object.values(QUEUES)) {
      const [msg, ...rest] = publisher.bodies<DeliveryMessage>(url);
      expect(rest).toEqual([]);
      expect(msg).toEqual({ v: 1, flow: 'orders', key: 'o1', version: 1, ts: 2000, eventIds: [a.id, b.id] });
    }
  });

  it('gives a change that won but changed nothing (a delete of a deleted key) a skipped delivery entry per target', async () => {
    // Prepare: o1 exists, then is deleted; a second source deletes it again later.
    await make()(sqsEvent([change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1' }, 1000)]));
    await make()(sqsEvent([change(ordersFlow, 'shop', 1, 'o1', undefined, 2000)], 'x'));
    const again = change(ordersFlow, 'erp', 2, 'o1', undefined, 3000);
    audit.entries.length = 0;

    // Act
    const res = await make()(sqsEvent([again], 'y'));

    // Assess: the won delete is accounted for at every target, though nothing was sent.
    expect(res.batchItemFailures).toEqual([]);
    const mine = audit.entries.filter((e) => e.eventId === again.id);
    expect(mine.map((e) => [e.step, e.outcome, e.target])).toEqual([
      ['resolve', 'won', undefined],
      ['deliver', 'skipped', 'replica'],
      ['deliver', 'skipped', 'archive'],
    ]);
    for (const url of Object.values(QUEUES)) expect(publisher.bodies<DeliveryMessage>(url).filter((m) => m.eventIds.includes(again.id))).toEqual([]);
  });

  it('re-reads and re-merges on a VersionConflictError, so a concurrent write is not lost', async () => {
    // Prepare
    const concurrent = change(ordersFlow, 'erp', 9, 'o1', { orderId: 'o1', status: 'paid' }, 2000);
    const ours = change(ordersFlow, 'shop', 1, 'o1', { orderId: 'o1', note: 'gift' }, 1500);
    let raced = false;
    state.beforePut = () => {
      if (raced) return;
      raced = true;
      const other = mergeChanges(ordersFlow, undefined, [concurrent]);
      state.seed({ flow: 'orders', key: 'o1', version: 1, doc: other.doc, view: other.view, delivered: {}, updatedAt: 1 });
    };

    // Act
    const res = await make()(sqsEvent([ours]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const stored = await state.get('orders', 'o1');
    expect(stored?.version).toBe(2);
    expect(stored?.view.data).toEqual({ orderId: 'o1', status: 'paid', note: 'gift' });
    expect(state.puts.map((p) => p.expectedVersion)).toEqual([0, 1]);
  });

  it('fails the messages of a key that keeps conflicting after 5 attempts, and only those', async () => {
    // Prepare
    let version = 0;
    state.beforePut = (s) => {
      if (s.key !== 'hot') return;
      version++;
      // Another writer always gets there first with a change of its own.
      const other = mergeChanges(ordersFlow, undefined, [change(ordersFlow, 'erp', 100 + version, 'hot', { orderId: 'hot', m: version }, 5)]);
      state.seed({ ...s, doc: other.doc, view: other.view, version: version + 10 });
    };
    const hot = change(ordersFlow, 'shop', 0, 'hot', { orderId: 'hot', n: 1 }, 1);
    const calm = change(ordersFlow, 'shop', 1, 'calm', { orderId: 'calm', n: 1 }, 1);

    // Act
    const res = await make()(sqsEvent([hot, calm]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(state.puts.filter((p) => p.state.key === 'hot')).toHaveLength(5);
    expect(publisher.bodies<DeliveryMessage>(QUEUES.replica).map((m) => m.key)).toEqual(['calm']);
  });

  it('audits a change as given up when its own message fails on the last receive before the DLQ, with its capture', async () => {
    // Prepare: o1's state cannot be read; of its two messages only `stuck` is on its last receive. Audit level all.
    const flow: FlowConfig = { ...ordersFlow, audit: { ...ordersFlow.audit, level: 'all' } };
    const realGet = state.getMany.bind(state);
    state.getMany = async (flowId, keys) => {
      if (keys.includes('o1')) throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException' });
      return realGet(flowId, keys);
    };
    const captured = (env: ChangeEnvelope): ChangeEnvelope => ({ ...env, lineage: [{ step: 'capture', at: 900, outcome: 'captured' }] });
    const stuck = captured(change(flow, 'shop', 0, 'o1', { orderId: 'o1', status: 'new' }, 1000));
    const retried = captured(change(flow, 'erp', 1, 'o1', { orderId: 'o1', status: 'paid' }, 1100));
    const fine = captured(change(flow, 'shop', 2, 'o2', { orderId: 'o2' }, 1000));
    const event = sqsEvent([stuck, retried, fine]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);
    event.Records[1]!.attributes.ApproximateReceiveCount = '2';

    // Act
    const res = await make(flow)(event);

    // Assess: both o1 messages fail, only `stuck` is given up; o2 resolves.
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }]);
    const failed = audit.entries.filter((e) => e.outcome === 'failed');
    expect(failed).toMatchObject([{ key: 'o1', step: 'resolve', eventId: stuck.id, source: 'shop', detail: { attempts: MAX_RECEIVE_COUNT, parked: 'dlq', captured: { at: 900, op: 'upsert' } } }]);
    expect(failed[0]!.reason).toMatch(/^gave up after 5 attempts, the message goes to the DLQ: state read of one key failed/);
    expect(audit.entries.find((e) => e.key === 'o2')).toMatchObject({ outcome: 'won' });
  });

  it('does not audit a merged change as given up when only its notification fails on the last receive', async () => {
    // Prepare: the change merges and is audited won, then the send to the delivery queues fails.
    publisher.throwSends = 1;
    const a = change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1' }, 1000);
    const event = sqsEvent([a]);
    event.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);

    // Act
    const res = await make()(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(audit.entries.map((e) => [e.eventId, e.outcome])).toEqual([[a.id, 'won']]);
  });

  it('skips the write of a redelivered change but re-notifies targets that have not recorded this version', async () => {
    // Prepare
    const a = change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1', status: 'new' }, 1000);
    const merged = mergeChanges(ordersFlow, undefined, [a]);
    state.seed({ flow: 'orders', key: 'o1', version: 3, doc: merged.doc, view: merged.view, delivered: { replica: { version: 3, hash: merged.view.hash } }, updatedAt: 1 });

    // Act
    const res = await make()(sqsEvent([a]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(state.puts).toEqual([]);
    expect(publisher.bodies(QUEUES.replica)).toEqual([]);
    expect(publisher.bodies<DeliveryMessage>(QUEUES.archive)).toMatchObject([{ key: 'o1', version: 3 }]);
    expect(audit.entries).toMatchObject([{ outcome: 'superseded', reason: 'duplicate' }]);
  });

  it('re-notifies a DynamoDB target (which records upserts on its item) only for the change behind the current version', async () => {
    // Prepare: version 3 was made by `a`; neither target has a marker item.
    const a = change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1', status: 'new' }, 2000);
    const older = change(ordersFlow, 'erp', 1, 'o1', { orderId: 'o1', status: 'old' }, 1000);
    const merged = mergeChanges(ordersFlow, undefined, [a]);
    const won = { flow: 'orders', key: 'o1', step: 'resolve' as const, at: 1, source: 'shop', eventId: a.id, outcome: 'won' as const, version: 3 };
    state.seed({ flow: 'orders', key: 'o1', version: 3, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 1, recent: [won] });

    // Act
    await make()(sqsEvent([older]));
    const afterSuperseded = publisher.bodies(QUEUES.replica).length;
    await make()(sqsEvent([a]));

    // Assess: the superseded change notifies no one; the redelivered winner (its send may have been lost) both targets.
    expect(afterSuperseded).toBe(0);
    expect(state.puts).toEqual([]);
    expect(publisher.bodies<DeliveryMessage>(QUEUES.replica)).toMatchObject([{ key: 'o1', version: 3 }]);
    expect(publisher.bodies<DeliveryMessage>(QUEUES.archive)).toMatchObject([{ key: 'o1', version: 3 }]);
  });

  it('fails the messages of keys whose delivery send failed; the retry notifies without a second write', async () => {
    // Prepare
    const a = change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1' }, 1);
    const b = change(ordersFlow, 'shop', 1, 'o2', { orderId: 'o2' }, 1);
    publisher.failWhen = (m, url) => url === QUEUES.archive && m.body.includes('"o2"');
    const handler = make();

    // Act
    const first = await handler(sqsEvent([a, b]));
    publisher.failWhen = undefined;
    const retry = await handler(sqsEvent([b]));

    // Assess
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(retry.batchItemFailures).toEqual([]);
    expect(state.puts).toHaveLength(2);
    expect(publisher.bodies<DeliveryMessage>(QUEUES.archive).map((m) => m.key).sort()).toEqual(['o1', 'o2']);
  });

  it('fails the batch items when the audit write throws', async () => {
    // Prepare
    audit.failWrites = 1;

    // Act
    const res = await make()(sqsEvent([change(ordersFlow, 'shop', 0, 'o1', { orderId: 'o1' }, 1)]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
  });

  it('opens conflicts of the manual strategy and audits the conflict decision', async () => {
    // Prepare
    const crm = change(manualFlow, 'crm', 0, 'p1', { id: 'p1', email: 'a@x.io' }, 1000);
    const erp = change(manualFlow, 'erp', 1, 'p1', { id: 'p1', email: 'b@x.io' }, 1001);
    const handler = make(manualFlow, { replica: 'https://sqs.local/people-deliver-replica' });

    // Act
    const res = await handler(sqsEvent([crm, erp]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const open = await conflicts.list('people', 'open');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ key: 'p1', field: 'email' });
    expect(audit.outcomes()).toContain('conflict');
    expect(metrics.counts.Conflicts).toBe(1);
  });

  it('fails only the messages of the key whose conflict cannot be stored; its batch-mates open theirs and are delivered', async () => {
    // Prepare: two keys each get a conflict in one batch; storing p1's is refused (as DynamoDB refuses an item too large).
    const handler = make(manualFlow, { replica: 'https://sqs.local/people-deliver-replica' });
    const changes = ['p1', 'p2'].flatMap((key, k) => [
      change(manualFlow, 'crm', 2 * k, key, { id: key, email: `${key}@crm.io` }, 1000),
      change(manualFlow, 'erp', 2 * k + 1, key, { id: key, email: `${key}@erp.io` }, 1001),
    ]);
    const open = conflicts.open.bind(conflicts);
    conflicts.open = async (cs, at) => {
      if (cs.some((c) => c.key === 'p1')) throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException' });
      return open(cs, at);
    };

    // Act
    const res = await handler(sqsEvent(changes));

    // Assess
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m0', 'm1']);
    expect((await conflicts.list('people', 'open')).map((c) => c.key)).toEqual(['p2']);
    expect(publisher.bodies<DeliveryMessage>('https://sqs.local/people-deliver-replica').map((m) => m.key)).toEqual(['p2']);
  });

  it('fails an envelope without a key or of another flow instead of merging it', async () => {
    // Act
    const res = await make()(sqsEvent([change(ordersFlow, 'shop', 0, '', { orderId: 'x' }, 1), { ...change(ordersFlow, 'shop', 1, 'k', {}, 1), flow: 'other' }, 'not json']));

    // Assess
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['m0', 'm1', 'm2']);
    expect(state.puts).toEqual([]);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { contentHash, type ChangeEnvelope, type OriginMarker } from '../../../functions/core/envelope';
import { mergeChanges } from '../../../functions/core/merge';
import { isEcho } from '../../../functions/handlers/echoes';
import { createResolveHandler } from '../../../functions/handlers/resolve-handler';
import { flowSchema } from '../../../functions/config/schema';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryConflictStore, InMemoryStateStore, RecordingMetrics, sqsEvent } from '../../fixtures/fakes';

/** Table A is the source of flow a-to-b, whose target is table B (and the reverse flow reads B and writes A). */
const flow = flowSchema.parse({
  id: 'a-to-b',
  key: ['id'],
  sources: [{ id: 'a', type: 'dynamodb-stream', tableName: 'table-a' }],
  targets: [{ id: 'b', type: 'dynamodb', tableName: 'table-b' }],
});
const QUEUES = { b: 'https://sqs.local/a-to-b-deliver-b' };

function env(n: number, data: Record<string, unknown>, ts: number, origin?: OriginMarker): ChangeEnvelope {
  return { v: 1, id: `e${n}`, flow: 'a-to-b', source: 'a', key: 'k', op: 'upsert', data, ts, seq: `s${n}`, lineage: [], ...(origin ? { origin } : {}) };
}

describe('echo detection in resolve', () => {
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let publisher: FakePublisher;
  let metrics: RecordingMetrics;
  const handler = () => createResolveHandler({ flow, stateStore: state, audit, conflicts: new InMemoryConflictStore(), publisher, deliverQueueUrls: QUEUES, clock: new FakeClock(), metrics });

  /** State at version 2 holding `data`, delivered to b with its hash. */
  function seed(data: Record<string, unknown>, delivered = true) {
    const merged = mergeChanges(flow, undefined, [env(0, data, 1000)]);
    state.seed({ flow: 'a-to-b', key: 'k', version: 2, doc: merged.doc, view: merged.view, delivered: delivered ? { b: { version: 2, hash: merged.view.hash } } : {}, updatedAt: 1 });
    return merged.view;
  }

  beforeEach(() => {
    state = new InMemoryStateStore();
    audit = new InMemoryAuditLog();
    publisher = new FakePublisher();
    metrics = new RecordingMetrics();
  });

  it('drops our own write to a table of this flow coming back: audited as echo, no state write, no delivery', async () => {
    // Prepare
    const view = seed({ id: 'k', name: 'Ada' });
    const echo = env(1, { id: 'k', name: 'Ada' }, 1000, { flow: 'a-to-b', target: 'b', version: 2, hash: view.hash, ts: 1000 });

    // Act
    const res = await handler()(sqsEvent([echo]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(state.puts).toEqual([]);
    expect(publisher.calls).toBe(0);
    expect(audit.entries).toMatchObject([{ outcome: 'echo', eventId: 'e1', step: 'resolve', version: 2 }]);
    expect(metrics.counts.Echo).toBe(1);
  });

  it("drops another flow's write of content this flow last delivered (A to B, B to A)", async () => {
    // Prepare: b-to-a wrote to table A exactly what a-to-b had delivered to B.
    const view = seed({ id: 'k', name: 'Ada' });
    const echo = env(1, { id: 'k', name: 'Ada' }, 1000, { flow: 'b-to-a', target: 'a', version: 9, hash: view.hash, ts: 1000 });

    // Act
    await handler()(sqsEvent([echo]));

    // Assess
    expect(audit.outcomes()).toEqual(['echo']);
    expect(state.puts).toEqual([]);
  });

  it("merges another flow's write of content this flow never delivered, with the marker's clock", async () => {
    // Prepare: a person edited B at ts 5000; b-to-a carried it to A.
    seed({ id: 'k', name: 'Ada' });
    const fromB = { id: 'k', name: 'Grace' };
    const carried = env(1, fromB, 5000, { flow: 'b-to-a', target: 'a', version: 3, hash: contentHash(fromB), ts: 5000 });

    // Act
    await handler()(sqsEvent([carried]));

    // Assess
    expect(audit.outcomes()).toEqual(['won']);
    expect((await state.get('a-to-b', 'k'))!.view.data).toEqual(fromB);
    expect(publisher.bodies(QUEUES.b)).toMatchObject([{ key: 'k', version: 3 }]);
  });

  it('merges a real outside change (the capture gave it no origin) even when a stale marker was on the item', async () => {
    // Prepare: the capture dropped the origin because the content no longer matched the marker.
    seed({ id: 'k', name: 'Ada' });
    const edited = env(1, { id: 'k', name: 'Ada Lovelace' }, 6000);

    // Act
    await handler()(sqsEvent([edited]));

    // Assess
    expect(audit.outcomes()).toEqual(['won']);
    expect(publisher.bodies(QUEUES.b)).toHaveLength(1);
  });

  it('drops only the echo of a batch and merges the rest of the same key', async () => {
    // Prepare
    const view = seed({ id: 'k', name: 'Ada' });
    const echo = env(1, { id: 'k', name: 'Ada' }, 1000, { flow: 'a-to-b', target: 'b', version: 2, hash: view.hash, ts: 1000 });
    const real = env(2, { id: 'k', name: 'Ada', phone: '1' }, 7000);

    // Act
    await handler()(sqsEvent([echo, real]));

    // Assess
    expect(audit.outcomes().sort()).toEqual(['echo', 'won']);
    expect((await state.get('a-to-b', 'k'))!.version).toBe(3);
  });

  it('isEcho: never for a delete, an unknown key, or our own write at a version the state has not reached', () => {
    const view = seed({ id: 'k' });
    const s = { flow: 'a-to-b', key: 'k', version: 2, doc: { s: 'lww' as const }, view, delivered: {}, updatedAt: 0 };
    const origin = { flow: 'a-to-b', target: 'b', version: 2, hash: view.hash, ts: 1 };
    expect(isEcho('a-to-b', env(1, { id: 'k' }, 1, origin), s)).toBe(true);
    expect(isEcho('a-to-b', env(1, { id: 'k' }, 1, { ...origin, version: 3 }), s)).toBe(false);
    expect(isEcho('a-to-b', env(1, { id: 'k' }, 1, origin), undefined)).toBe(false);
    expect(isEcho('a-to-b', { ...env(1, { id: 'k' }, 1, origin), op: 'delete' }, s)).toBe(false);
    expect(isEcho('a-to-b', env(1, { id: 'k' }, 1, { ...origin, flow: 'other', hash: 'other-content' }), s)).toBe(false);
  });

  it("isEcho: another flow's write of exactly this flow's current content (what a DynamoDB target item records)", () => {
    const view = seed({ id: 'k' });
    const s = { flow: 'b-to-a', key: 'k', version: 2, doc: { s: 'lww' as const }, view, delivered: {}, updatedAt: 0 };
    const origin = { flow: 'a-to-b', target: 'b', version: 9, hash: view.hash, ts: 1 };
    expect(isEcho('b-to-a', env(1, { id: 'k' }, 1, origin), s)).toBe(true);
    expect(isEcho('b-to-a', env(1, { id: 'k' }, 1, { ...origin, hash: seed({ id: 'k', name: 'edited' }).hash }), s)).toBe(false);
  });
});

describe('a target paired with the source of its own system (pairedSource)', () => {
  /** A CRM both sends webhooks (source crm) and takes updates (target crm-out); a replica takes everything. */
  const twoWay = (strategy: 'lww' | 'field-lww') =>
    flowSchema.parse({
      id: 'crm-sync',
      key: ['id'],
      sources: [
        { id: 'crm', type: 'webhook' },
        { id: 'erp', type: 'webhook' },
      ],
      conflict: { strategy },
      targets: [
        { id: 'crm-out', type: 'http', url: 'https://crm.example.com/contacts/{key}', pairedSource: 'crm' },
        { id: 'replica', type: 'dynamodb' },
      ],
    });
  const queues = { 'crm-out': 'https://sqs.local/crm-out', replica: 'https://sqs.local/replica' };
  const change = (n: number, source: string, data: Record<string, unknown> | undefined, ts: number): ChangeEnvelope => ({
    v: 1,
    id: `c${n}`,
    flow: 'crm-sync',
    source,
    key: 'k',
    op: data ? 'upsert' : 'delete',
    ...(data ? { data } : {}),
    ts,
    seq: `s${n}`,
    lineage: [],
  });
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let publisher: FakePublisher;
  const run = (flowConfig: ReturnType<typeof twoWay>, changes: ChangeEnvelope[]) =>
    createResolveHandler({ flow: flowConfig, stateStore: state, audit, conflicts: new InMemoryConflictStore(), publisher, deliverQueueUrls: queues, clock: new FakeClock() })(sqsEvent(changes));

  beforeEach(() => {
    state = new InMemoryStateStore();
    audit = new InMemoryAuditLog();
    publisher = new FakePublisher();
  });

  it("does not send the CRM its own change back (the CRM's copy, with its new updated_at, would come round again), and audits why", async () => {
    // Prepare: the version syncline sent the CRM, then the CRM's webhook of it, stamped with its own updated_at.
    const flowConfig = twoWay('lww');
    await run(flowConfig, [change(1, 'erp', { id: 'k', name: 'Ada' }, 1000)]);
    publisher.sent.clear();

    // Act
    const res = await run(flowConfig, [change(2, 'crm', { id: 'k', name: 'Ada', updated_at: '2026-12-07T10:00:01Z' }, 2000)]);

    // Assess: state and the replica take the CRM's field; the CRM is not written again.
    expect(res.batchItemFailures).toEqual([]);
    expect((await state.get('crm-sync', 'k'))!.view.data).toEqual({ id: 'k', name: 'Ada', updated_at: '2026-12-07T10:00:01Z' });
    expect(publisher.bodies(queues.replica)).toMatchObject([{ key: 'k', version: 2 }]);
    expect(publisher.bodies(queues['crm-out'])).toEqual([]);
    expect(audit.entries.filter((e) => e.eventId === 'c2').map((e) => [e.outcome, e.target, e.reason])).toEqual([
      ['won', undefined, expect.any(String)],
      ['skipped', 'crm-out', 'the record is the change source "crm" sent: not sent back to its own system'],
    ]);
  });

  it('under field-lww, does not send the CRM its webhook of a write when it holds only some of the fields', async () => {
    // Prepare: the ERP's record has a score the CRM does not keep; the CRM's webhook of syncline's write lacks it.
    const flowConfig = twoWay('field-lww');
    await run(flowConfig, [change(1, 'erp', { id: 'k', name: 'Ada', score: 7 }, 1000)]);
    publisher.sent.clear();

    // Act
    await run(flowConfig, [change(2, 'crm', { id: 'k', name: 'Ada', updated_at: '2026-12-07T10:00:01Z' }, 2000)]);

    // Assess
    expect((await state.get('crm-sync', 'k'))!.view.data).toEqual({ id: 'k', name: 'Ada', score: 7, updated_at: '2026-12-07T10:00:01Z' });
    expect(publisher.bodies(queues['crm-out'])).toEqual([]);
    expect(publisher.bodies(queues.replica)).toMatchObject([{ version: 2 }]);
  });

  /** What the delivery steps would record: every target holds the current version. */
  async function deliveredAll() {
    const current = (await state.get('crm-sync', 'k'))!;
    for (const t of Object.keys(queues)) await state.markDelivered('crm-sync', 'k', t, current.version, current.view.hash);
  }

  it('sends the CRM a version it does not hold: its change merged with a newer field from elsewhere, or a change from another source', async () => {
    // Prepare: under field-lww the ERP's newer phone outlives the CRM's, while the CRM's name is taken.
    const flowConfig = twoWay('field-lww');
    await run(flowConfig, [change(1, 'erp', { id: 'k', phone: '2' }, 5000)]);
    await deliveredAll();
    publisher.sent.clear();

    // Act
    await run(flowConfig, [change(2, 'crm', { id: 'k', name: 'Ada L.', phone: '1' }, 3000)]);
    await deliveredAll();
    await run(flowConfig, [change(3, 'crm', { id: 'k', name: 'Ada Lovelace', phone: '2' }, 6000)]);
    await deliveredAll();
    await run(flowConfig, [change(4, 'erp', { id: 'k', phone: '3' }, 7000)]);

    // Assess: the CRM gets the merge and the ERP's change, not its own record back.
    expect((await state.get('crm-sync', 'k'))!.view.data).toEqual({ id: 'k', name: 'Ada Lovelace', phone: '3' });
    expect(publisher.bodies(queues['crm-out'])).toMatchObject([{ version: 2 }, { version: 4 }]);
    expect(publisher.bodies(queues.replica)).toMatchObject([{ version: 2 }, { version: 3 }, { version: 4 }]);
  });

  it("does not send a delete back to the system it came from, nor re-send the CRM's change when its message comes again", async () => {
    // Prepare
    const flowConfig = twoWay('lww');
    const fromCrm = change(2, 'crm', { id: 'k', name: 'Grace' }, 2000);
    await run(flowConfig, [change(1, 'erp', { id: 'k', name: 'Ada' }, 1000)]);
    await deliveredAll();
    await run(flowConfig, [fromCrm]);
    publisher.sent.clear();

    // Act: the same message again (SQS delivers at least once), then the CRM's delete.
    await run(flowConfig, [fromCrm]);
    await run(flowConfig, [change(3, 'crm', undefined, 3000)]);

    // Assess: the replica, which has not recorded version 2, is notified again; the CRM never.
    expect((await state.get('crm-sync', 'k'))!.view.deleted).toBe(true);
    expect(publisher.bodies(queues['crm-out'])).toEqual([]);
    expect(publisher.bodies(queues.replica)).toMatchObject([{ version: 2 }, { version: 3 }]);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { contentHash, type ChangeEnvelope, type OriginMarker } from '../../../functions/core/envelope';
import { mergeChanges } from '../../../functions/core/merge';
import { isEcho } from '../../../functions/handlers/echoes';
import { createResolveHandler } from '../../../functions/handlers/resolve-handler';
import { flowSchema } from '../../../functions/config/schema';
import { StateTooLargeError } from '../../../functions/ports';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryConflictStore, InMemoryQuarantineStore, InMemoryStateStore, RecordingMetrics, sqsEvent } from '../../fixtures/fakes';

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
  const handler = () => createResolveHandler({ flow, stateStore: state, audit, conflicts: new InMemoryConflictStore(), quarantine: new InMemoryQuarantineStore(), publisher, deliverQueueUrls: QUEUES, clock: new FakeClock(), metrics });

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

  it('keeps each remaining change paired with its own message: a change set aside beside an echo fails its own message when its quarantine write fails', async () => {
    // Prepare: [echo (m0), a change too large to store (m1), a small change (m2)] of one key; the quarantine write fails once.
    const view = seed({ id: 'k', name: 'Ada' });
    const echo = env(1, { id: 'k', name: 'Ada' }, 1000, { flow: 'a-to-b', target: 'b', version: 2, hash: view.hash, ts: 1000 });
    const large = env(2, { id: 'k', blob: 'BIG' }, 3000);
    const small = env(3, { id: 'k', status: 'active' }, 2000);
    state.beforePut = (next) => {
      if (JSON.stringify(next.doc).includes('BIG')) throw new StateTooLargeError(next.flow, next.key, 500_000);
    };
    const quarantine = new InMemoryQuarantineStore();
    quarantine.failPuts = 1;

    // Act
    const res = await createResolveHandler({ flow, stateStore: state, audit, conflicts: new InMemoryConflictStore(), quarantine, publisher, deliverQueueUrls: QUEUES, clock: new FakeClock(), metrics })(sqsEvent([echo, large, small]));

    // Assess: the large change's own message is retried; the echo's and the small change's are done.
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect((await state.get('a-to-b', 'k'))!.view.data).toMatchObject({ status: 'active' });
    expect(audit.entries.map((e) => [e.eventId, e.outcome])).toEqual(expect.arrayContaining([['e1', 'echo'], ['e3', 'won']]));
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

  it("drops another flow's write of content this flow delivered before its current version (the state has moved on since)", async () => {
    // Prepare: a-to-b delivered X to B at v2 and has Y at v3 (not delivered yet); b-to-a carried X back to A.
    const x = { id: 'k', name: 'Ada' };
    const delivered = seed(x);
    const y = mergeChanges(flow, undefined, [env(0, { id: 'k', name: 'Ada L.' }, 2000)]);
    state.seed({ flow: 'a-to-b', key: 'k', version: 3, doc: y.doc, view: y.view, delivered: { b: { version: 2, hash: delivered.hash } }, updatedAt: 2 });
    const echo = env(1, x, 1000, { flow: 'b-to-a', target: 'a', version: 4, hash: contentHash(x), ts: 1000 });

    // Act
    await handler()(sqsEvent([echo]));

    // Assess
    expect(y.view.hash).not.toBe(delivered.hash);
    expect(audit.outcomes()).toEqual(['echo']);
    expect(state.puts).toEqual([]);
    expect(publisher.calls).toBe(0);
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

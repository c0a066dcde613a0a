import { beforeEach, describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { REVIEW_SOURCE, type Conflict } from '../../../functions/core/merge';
import { createConflictReview } from '../../../functions/handlers/conflict-review-handler';
import { AUTO_RESOLVE_BY, createConflictSweeper } from '../../../functions/handlers/conflict-sweeper';
import { flowSchema, type FlowConfig } from '../../../lib/config/schema';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryConflictStore, RecordingMetrics } from '../../fixtures/fakes';
import { manualFlow } from '../../fixtures/flows';

const RESOLVE_QUEUE = 'https://sqs.local/people-resolve';
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

const autoFlow = (conflict: Record<string, unknown>): FlowConfig => flowSchema.parse({ ...manualFlow, conflict: { strategy: 'manual', ...conflict } });

/** A conflict on `email` of key `key`: crm wrote first, erp one second later. */
function conflictOn(key: string): Conflict {
  return {
    id: `c-${key}`,
    flow: 'people',
    key,
    field: 'email',
    current: { value: `${key}@crm.io`, source: 'crm', clock: { ts: 1000, src: 'crm', seq: '1', id: `e-crm-${key}` } },
    incoming: { value: `${key}@erp.io`, source: 'erp', clock: { ts: 2000, src: 'erp', seq: '1', id: `e-erp-${key}` } },
  };
}

describe('conflict sweeper', () => {
  let conflicts: InMemoryConflictStore;
  let publisher: FakePublisher;
  let audit: InMemoryAuditLog;
  let metrics: RecordingMetrics;
  let clock: FakeClock;
  const sweeper = (flow: FlowConfig) => createConflictSweeper({ flow, resolveQueueUrl: RESOLVE_QUEUE, conflicts, publisher, audit, clock, metrics });

  beforeEach(async () => {
    conflicts = new InMemoryConflictStore();
    publisher = new FakePublisher();
    audit = new InMemoryAuditLog();
    metrics = new RecordingMetrics();
    clock = new FakeClock(T0);
    // Opened 20 and 15 minutes ago, and 2 minutes ago.
    await conflicts.open([conflictOn('old-1')], T0 - 20 * MINUTE);
    await conflicts.open([conflictOn('old-2')], T0 - 15 * MINUTE);
    await conflicts.open([conflictOn('fresh')], T0 - 2 * MINUTE);
  });

  it('settles only conflicts open longer than autoResolveAfter, with the lww winner, and reports what stays open', async () => {
    // Act
    const summary = await sweeper(autoFlow({ autoResolveAfter: '10 minutes', autoResolveWith: 'lww' }))();

    // Assess
    expect(summary).toMatchObject({ open: 1, autoResolved: 2, alreadyResolved: 0, failed: 0 });
    expect((await conflicts.list('people', 'open')).map((c) => c.id)).toEqual(['c-fresh']);
    for (const key of ['old-1', 'old-2']) {
      expect(await conflicts.get('people', `c-${key}`)).toMatchObject({ status: 'resolved', resolvedBy: AUTO_RESOLVE_BY, choice: { choose: 'incoming' }, resolvedAt: T0 });
    }
    const changes = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE);
    expect(changes.map((c) => [c.key, c.source, c.data])).toEqual(
      expect.arrayContaining([
        ['old-1', REVIEW_SOURCE, { email: 'old-1@erp.io' }],
        ['old-2', REVIEW_SOURCE, { email: 'old-2@erp.io' }],
      ]),
    );
    expect(changes).toHaveLength(2);
    expect(audit.entries).toHaveLength(2);
    expect(audit.entries[0]).toMatchObject({ source: REVIEW_SOURCE, outcome: 'captured', detail: { by: AUTO_RESOLVE_BY } });
    expect(audit.entries[0]!.reason).toContain(`by ${AUTO_RESOLVE_BY}`);
    expect(audit.entries[0]!.reason).toContain('autoResolveAfter "10 minutes"');
    expect(audit.entries[0]!.reason).toContain('autoResolveWith "lww"');
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it("settles with the priority strategy's ranking when configured", async () => {
    // Act: erp is newer, but crm outranks it on email.
    await sweeper(autoFlow({ autoResolveAfter: '10 minutes', autoResolveWith: 'priority', priority: { email: ['crm', 'erp'] } }))();

    // Assess
    expect(await conflicts.get('people', 'c-old-1')).toMatchObject({ status: 'resolved', choice: { choose: 'current' } });
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).map((c) => c.data)).toContainEqual({ email: 'old-1@crm.io' });
  });

  it('leaves every conflict open without autoResolveAfter, and still publishes the open count', async () => {
    // Act
    const summary = await sweeper(manualFlow)();

    // Assess
    expect(summary).toMatchObject({ open: 3, autoResolved: 0 });
    expect(publisher.calls).toBe(0);
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 3 }]);
  });

  it('publishes 0 when nothing is open', async () => {
    // Prepare
    const empty = new InMemoryConflictStore();

    // Act
    await createConflictSweeper({ flow: manualFlow, resolveQueueUrl: RESOLVE_QUEUE, conflicts: empty, publisher, clock, metrics })();

    // Assess
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 0 }]);
  });

  it('applies a reviewer resolution racing with the sweep once: the reviewer wins the transition, the sweep sends nothing for it', async () => {
    // Prepare: a reviewer resolves old-1 after the sweep listed it and before its conditional transition.
    const review = createConflictReview({ flows: new Map([['people', { flow: manualFlow, resolveQueueUrl: RESOLVE_QUEUE }]]), conflicts, publisher, audit, hashKey: 'k', clock });
    const markResolved = conflicts.markResolved.bind(conflicts);
    let raced = false;
    conflicts.markResolved = async (flow, id, r) => {
      if (id === 'c-old-1' && !raced) {
        raced = true;
        expect((await review.resolve('people', 'c-old-1', { choose: 'current', by: 'alice' })).status).toBe(202);
      }
      return markResolved(flow, id, r);
    };

    // Act
    const summary = await sweeper(autoFlow({ autoResolveAfter: '10 minutes', autoResolveWith: 'lww' }))();

    // Assess
    expect(summary).toMatchObject({ open: 1, autoResolved: 1, alreadyResolved: 1, failed: 0 });
    expect(await conflicts.get('people', 'c-old-1')).toMatchObject({ status: 'resolved', resolvedBy: 'alice', choice: { choose: 'current' } });
    const forOld1 = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).filter((c) => c.key === 'old-1');
    expect(forOld1.map((c) => c.data)).toEqual([{ email: 'old-1@crm.io' }]);
    expect(audit.entries.filter((e) => e.key === 'old-1').map((e) => e.detail?.by)).toEqual(['alice']);
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it('keeps a conflict open when its resolution cannot be queued, publishes the gauge, then fails the run', async () => {
    // Prepare
    publisher.failWhen = (m) => (JSON.parse(m.body) as ChangeEnvelope).key === 'old-2';

    // Act
    const run = sweeper(autoFlow({ autoResolveAfter: '10 minutes', autoResolveWith: 'lww' }))();

    // Assess
    await expect(run).rejects.toThrow(/1 of 2 auto-resolution\(s\) of flow "people" could not be queued/);
    expect(await conflicts.get('people', 'c-old-2')).toMatchObject({ status: 'open' });
    expect(await conflicts.get('people', 'c-old-1')).toMatchObject({ status: 'resolved' });
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 2 }]);
  });

  it('leaves due conflicts for the next run when the invocation is about to time out', async () => {
    // Act
    const summary = await sweeper(autoFlow({ autoResolveAfter: '10 minutes', autoResolveWith: 'lww' }))({ remainingMs: () => 5_000 });

    // Assess
    expect(summary).toMatchObject({ open: 3, autoResolved: 0, deferred: 2 });
    expect(publisher.calls).toBe(0);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { mergeChanges, REVIEW_SOURCE, type Conflict } from '../../../functions/core/merge';
import { createConflictReview, RESOLUTION_IN_FLIGHT_MS } from '../../../functions/handlers/conflict-review';
import { AUTO_RESOLVE_BY, createConflictSweeper, DUE_PAGE, STALE_CHECK_KEYS } from '../../../functions/handlers/conflict-sweeper';
import { flowSchema, type FlowConfig } from '../../../functions/config/schema';
import type { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryConflictStore, InMemoryStateStore, RecordingMetrics } from '../../fixtures/fakes';
import { fakeStepContext } from '../../fixtures/step-context';

const RESOLVE_QUEUE = 'https://sqs.local/people-resolve';
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

const flowWith = (conflict: Record<string, unknown> = {}): FlowConfig =>
  flowSchema.parse({
    id: 'people',
    key: ['id'],
    sources: ['crm', 'erp', 'web'].map((id) => ({ id, type: 'webhook' })),
    conflict: { strategy: 'manual', ...conflict },
    targets: [{ id: 'replica', type: 'dynamodb' }],
    audit: { level: 'all' },
  });
const LWW = flowWith({ autoResolveAfter: '10 minutes', autoResolveWith: 'lww' });

let n = 0;
const edit = (source: string, key: string, ts: number, data: Record<string, unknown>): ChangeEnvelope => ({
  v: 1,
  id: eventId('people', source, key, ++n),
  flow: 'people',
  source,
  key,
  op: 'upsert',
  data,
  ts,
  seq: String(n),
  lineage: [],
});

describe('conflict sweeper', () => {
  let conflicts: InMemoryConflictStore;
  let state: InMemoryStateStore;
  let publisher: FakePublisher;
  let audit: InMemoryAuditLog;
  let metrics: RecordingMetrics;
  let clock: FakeClock;
  const sweeper = (flow: FlowConfig) => createConflictSweeper({ flow, resolveQueueUrl: RESOLVE_QUEUE, conflicts, state, publisher, audit, clock, metrics });

  /** Merges changes into a key's state as the resolve step does, and stores the conflicts it holds open at `openedAt`. */
  async function merge(flow: FlowConfig, key: string, changes: ChangeEnvelope[], openedAt: number): Promise<Conflict[]> {
    const prev = await state.get('people', key);
    const r = mergeChanges(flow, prev?.doc, changes);
    state.seed({ flow: 'people', key, version: (prev?.version ?? 0) + 1, doc: r.doc, view: r.view, delivered: {}, updatedAt: openedAt });
    await conflicts.open(r.conflicts, openedAt);
    return r.conflicts;
  }
  /** crm then erp (one second later) edit `email` of `key` concurrently. */
  const clash = (key: string, openedAt: number, flow = LWW) =>
    merge(flow, key, [edit('crm', key, 1000, { email: `${key}@crm.io` }), edit('erp', key, 2000, { email: `${key}@erp.io` })], openedAt);
  /** crm, erp (newest) and web edit `email` of `key` concurrently: two conflicts on one field, sharing crm's value. */
  const threeWay = (key: string, openedAt: number) =>
    merge(LWW, key, [edit('crm', key, 1000, { email: 'c@crm.io' }), edit('erp', key, 3000, { email: 'c@erp.io' }), edit('web', key, 2000, { email: 'c@web.io' })], openedAt);
  const review = () => createConflictReview({ flows: new Map([['people', { flow: LWW, resolveQueueUrl: RESOLVE_QUEUE }]]), conflicts, publisher, audit, state, hashKey: 'k', clock });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  beforeEach(async () => {
    ({ conflicts, state, publisher, audit, metrics, clock } = fakeStepContext({ now: T0 }));
  });

  it('settles only conflicts open longer than autoResolveAfter, with the lww winner, and reports what stays open', async () => {
    // Prepare: opened 20 and 15 minutes ago, and 2 minutes ago.
    const [old1] = await clash('old-1', T0 - 20 * MINUTE);
    const [old2] = await clash('old-2', T0 - 15 * MINUTE);
    const [fresh] = await clash('fresh', T0 - 2 * MINUTE);

    // Act
    const summary = await sweeper(LWW)();

    // Assess
    expect(summary).toMatchObject({ open: 1, autoResolved: 2, alreadyResolved: 0, superseded: 0, failed: 0 });
    expect((await conflicts.list('people', 'open')).map((c) => c.id)).toEqual([fresh!.id]);
    for (const c of [old1!, old2!]) {
      expect(await conflicts.get('people', c.id)).toMatchObject({ status: 'resolved', resolvedBy: AUTO_RESOLVE_BY, choice: { choose: 'incoming' }, resolvedAt: T0 });
    }
    const changes = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE);
    expect(changes.map((c) => [c.key, c.source, c.data]).sort()).toEqual([
      ['old-1', REVIEW_SOURCE, { email: 'old-1@erp.io' }],
      ['old-2', REVIEW_SOURCE, { email: 'old-2@erp.io' }],
    ]);
    expect(audit.entries).toHaveLength(2);
    expect(audit.entries[0]).toMatchObject({ source: REVIEW_SOURCE, outcome: 'captured', detail: { by: AUTO_RESOLVE_BY } });
    expect(audit.entries[0]!.reason).toContain(`by ${AUTO_RESOLVE_BY}`);
    expect(audit.entries[0]!.reason).toContain('autoResolveAfter "10 minutes"');
    expect(audit.entries[0]!.reason).toContain('autoResolveWith "lww"');
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it("settles with the priority strategy's ranking when configured", async () => {
    // Prepare: erp is newer, but crm outranks it on email.
    const flow = flowWith({ autoResolveAfter: '10 minutes', autoResolveWith: 'priority', priority: { email: ['crm', 'erp'] } });
    const [c] = await clash('old-1', T0 - 20 * MINUTE, flow);

    // Act
    await sweeper(flow)();

    // Assess
    expect(await conflicts.get('people', c!.id)).toMatchObject({ status: 'resolved', choice: { choose: 'current' } });
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).map((x) => x.data)).toEqual([{ email: 'old-1@crm.io' }]);
  });

  it('leaves every conflict open without autoResolveAfter, and still publishes the open count', async () => {
    // Prepare
    const manual = flowWith();
    await clash('old-1', T0 - 20 * MINUTE, manual);
    await clash('fresh', T0 - MINUTE, manual);

    // Act
    const summary = await sweeper(manual)();

    // Assess
    expect(summary).toMatchObject({ open: 2, autoResolved: 0 });
    expect(publisher.calls).toBe(0);
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 2 }]);
  });

  it('closes a conflict that a newer edit replaced at every sweep, also without autoResolveAfter, so lists stop showing it open', async () => {
    // Prepare: a fresh conflict (nothing is due), then crm edits email again without having seen erp's value.
    const manual = flowWith();
    const [stale] = await clash('moved', T0 - MINUTE, manual);
    const [current] = await merge(manual, 'moved', [edit('crm', 'moved', 3000, { email: 'moved@crm2.io' })], T0 - MINUTE);

    // Act
    const summary = await sweeper(manual)();

    // Assess
    expect(summary).toMatchObject({ open: 1, autoResolved: 0, superseded: 1 });
    expect((await conflicts.list('people', 'open')).map((c) => c.id)).toEqual([current!.id]);
    expect(await conflicts.get('people', stale!.id)).toMatchObject({ status: 'superseded', supersededAt: T0 });
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it('reads at most STALE_CHECK_KEYS keys a sweep when more conflicts are open, and closes the stale ones over a few sweeps', async () => {
    // Prepare: 150 keys with a conflict each, opened a second apart, all replaced by a newer edit (a new conflict).
    const manual = flowWith();
    const keys = Array.from({ length: 150 }, (_, i) => `k${i}`);
    for (const [i, key] of keys.entries()) {
      await clash(key, T0 - 10 * MINUTE + i * 1000, manual);
      await merge(manual, key, [edit('crm', key, 3000, { email: `${key}@crm2.io` })], T0 - 10 * MINUTE + i * 1000);
    }
    const reads: string[][] = [];
    const getMany = state.getMany.bind(state);
    state.getMany = async (flow, wanted) => (reads.push([...wanted]), getMany(flow, wanted));
    const listed: (number | undefined)[] = [];
    const list = conflicts.list.bind(conflicts);
    conflicts.list = async (flow, status, page) => (listed.push(page?.limit), list(flow, status, page));

    // Act
    const first = await sweeper(manual)();
    const limits = [...listed];

    // Assess: one read of at most 100 keys; what it closed belongs to those keys; no listing read every open conflict.
    expect(reads).toHaveLength(1);
    expect(new Set(reads[0]).size).toBeLessThanOrEqual(STALE_CHECK_KEYS);
    expect(first.superseded).toBeGreaterThan(0);
    expect((await conflicts.list('people', 'superseded')).every((c) => reads[0]!.includes(c.key))).toBe(true);
    expect(limits.length > 0 && limits.every((limit) => limit !== undefined && limit <= 2 * STALE_CHECK_KEYS)).toBe(true);
    expect(first.open).toBe(300 - first.superseded);

    // Act: a cold start begins at a random point (here the oldest); a warm sweeper goes on where its last sweep stopped.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const warm = sweeper(manual);
    for (let i = 0; i < 3; i++) {
      clock.advance(MINUTE);
      await warm();
    }

    // Assess: every replaced conflict is closed, every live one stays open.
    expect((await conflicts.list('people', 'superseded')).length).toBe(150);
    expect((await conflicts.list('people', 'open')).map((c) => c.incoming.value).sort()).toEqual(keys.map((k) => `${k}@crm2.io`).sort());
  });

  it('publishes 0 when nothing is open', async () => {
    // Act
    await sweeper(LWW)();

    // Assess
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 0 }]);
  });

  it('applies a reviewer resolution racing with the sweep once: the reviewer wins the transition, the sweep sends nothing for it', async () => {
    // Prepare: a reviewer resolves old-1 after the sweep listed it and before its conditional transition.
    const [old1] = await clash('old-1', T0 - 20 * MINUTE);
    await clash('old-2', T0 - 15 * MINUTE);
    await clash('fresh', T0 - 2 * MINUTE);
    const review = createConflictReview({ flows: new Map([['people', { flow: LWW, resolveQueueUrl: RESOLVE_QUEUE }]]), conflicts, publisher, audit, hashKey: 'k', clock });
    const markResolved = conflicts.markResolved.bind(conflicts);
    let raced = false;
    conflicts.markResolved = async (flow, id, r) => {
      if (id === old1!.id && !raced) {
        raced = true;
        expect((await review.resolve('people', id, { choose: 'current', by: 'alice' })).status).toBe(202);
      }
      return markResolved(flow, id, r);
    };

    // Act
    const summary = await sweeper(LWW)();

    // Assess
    expect(summary).toMatchObject({ open: 1, autoResolved: 1, alreadyResolved: 1, failed: 0 });
    expect(await conflicts.get('people', old1!.id)).toMatchObject({ status: 'resolved', resolvedBy: 'alice', choice: { choose: 'current' } });
    const forOld1 = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).filter((c) => c.key === 'old-1');
    expect(forOld1.map((c) => c.data)).toEqual([{ email: 'old-1@crm.io' }]);
    expect(audit.entries.filter((e) => e.key === 'old-1').map((e) => e.detail?.by)).toEqual(['alice']);
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it('closes a conflict that a newer edit replaced as superseded instead of settling it over that edit', async () => {
    // Prepare: crm edits email again after the conflict opened, without having seen erp's value: a new conflict.
    const [stale] = await clash('moved', T0 - 20 * MINUTE);
    const [current] = await merge(LWW, 'moved', [edit('crm', 'moved', 3000, { email: 'moved@crm2.io' })], T0 - MINUTE);
    expect(current!.id).not.toBe(stale!.id);

    // Act
    const summary = await sweeper(LWW)();

    // Assess
    expect(summary).toMatchObject({ open: 1, autoResolved: 0, superseded: 1 });
    expect(await conflicts.get('people', stale!.id)).toMatchObject({ status: 'superseded', supersededAt: T0 });
    expect(await conflicts.get('people', current!.id)).toMatchObject({ status: 'open' });
    expect(publisher.calls).toBe(0);
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it('answers a reviewer 409 for a conflict a newer edit replaced, closes it as superseded, and sends nothing', async () => {
    // Prepare: the conflict opened, then crm edited email again: the record now holds another conflict.
    const [stale] = await clash('moved', T0 - 20 * MINUTE);
    const [current] = await merge(LWW, 'moved', [edit('crm', 'moved', 3000, { email: 'moved@crm2.io' })], T0 - MINUTE);

    // Act
    const res = await review().resolve('people', stale!.id, { choose: 'incoming', by: 'alice' });

    // Assess: nothing overwrites crm's newer edit; the live conflict can still be resolved.
    expect(res.status).toBe(409);
    expect((res.body as { message: string }).message).toMatch(/already superseded: a newer edit of email replaced a side/);
    expect(await conflicts.get('people', stale!.id)).toMatchObject({ status: 'superseded' });
    expect(publisher.calls).toBe(0);
    expect((await review().list('people', 'superseded')).body).toEqual([expect.objectContaining({ id: stale!.id })]);
    expect((await review().resolve('people', current!.id, { choose: 'incoming', by: 'alice' })).status).toBe(202);
  });

  it('settles a field once, with the winner among all its open sides, then supersedes the sibling conflicts', async () => {
    // Prepare: three sources edit email concurrently: two conflicts share the displayed crm value.
    const opened = await threeWay('three', T0 - 20 * MINUTE);
    expect(opened).toHaveLength(2);

    // Act
    const first = await sweeper(LWW)();

    // Assess: one resolution, erp's value (the newest of the three), through the conflict that parks it.
    expect(first).toMatchObject({ autoResolved: 1, open: 1 });
    const changes = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE);
    expect(changes.map((c) => c.data)).toEqual([{ email: 'c@erp.io' }]);
    const settled = opened.find((c) => c.incoming.source === 'erp')!;
    expect(await conflicts.get('people', settled.id)).toMatchObject({ status: 'resolved', choice: { choose: 'incoming' } });

    // Act: the resolve step merges the resolution, and the next sweep runs.
    await merge(LWW, 'three', changes, T0);
    clock.advance(MINUTE);
    const second = await sweeper(LWW)();

    // Assess
    expect(second).toMatchObject({ autoResolved: 0, superseded: 1, open: 0 });
    expect(publisher.bodies(RESOLVE_QUEUE)).toHaveLength(1);
    expect(metrics.gauges.map((g) => g.value)).toEqual([1, 0]);
  });

  it('settles due conflicts page after page, never listing every open conflict at once', async () => {
    // Prepare: 250 due conflicts, oldest first, and 5 fresh ones.
    for (let i = 0; i < 250; i++) await clash(`old-${i}`, T0 - 60 * MINUTE + i * 1000);
    for (let i = 0; i < 5; i++) await clash(`fresh-${i}`, T0 - MINUTE);
    const limits: (number | undefined)[] = [];
    const list = conflicts.list.bind(conflicts);
    conflicts.list = async (flow, status, page) => (limits.push(page?.limit), list(flow, status, page));

    // Act
    const summary = await sweeper(LWW)();

    // Assess
    expect(summary).toMatchObject({ autoResolved: 250, open: 5, failed: 0, deferred: 0 });
    expect(new Set(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).map((c) => c.key)).size).toBe(250);
    expect(limits.every((limit) => limit !== undefined && limit <= DUE_PAGE * 2)).toBe(true);
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 5 }]);
  });

  it('chooses among every open side of a field when a sibling conflict is on a later page', async () => {
    // Prepare: DUE_PAGE - 1 older due conflicts, then crm vs erp on "x" (the last of the first page), then web's
    // concurrent edit of x.email (newest of the three) opens a sibling a minute ago, past the first page.
    for (let i = 0; i < DUE_PAGE - 1; i++) await clash(`old-${i}`, T0 - 60 * MINUTE + i * 1000);
    await clash('x', T0 - 20 * MINUTE);
    const sibling = (await merge(LWW, 'x', [edit('web', 'x', 5000, { email: 'x@web.io' })], T0 - MINUTE)).find((c) => c.incoming.source === 'web');
    expect(sibling).toBeDefined();

    // Act
    const summary = await sweeper(LWW)();

    // Assess: x is settled once, with web's value, through the sibling that parks it.
    expect(summary).toMatchObject({ autoResolved: DUE_PAGE, failed: 0 });
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).filter((c) => c.key === 'x').map((c) => c.data)).toEqual([{ email: 'x@web.io' }]);
    expect(await conflicts.get('people', sibling!.id)).toMatchObject({ status: 'resolved', choice: { choose: 'incoming' } });
  });

  it('settles a conflict stored without its values (too large for one item) with the values the record holds', async () => {
    // Prepare: the stored conflict lost its values, as the DynamoDB store keeps a conflict over 400 KB.
    const [c] = await clash('big', T0 - 20 * MINUTE);
    const item = conflicts.items.get(`people#${c!.id}`)!;
    const { value: _c, ...current } = item.current;
    const { value: _i, ...incoming } = item.incoming;
    conflicts.items.set(`people#${c!.id}`, { ...item, current, incoming, omitted: 'values not kept' } as typeof item);

    // Act
    const summary = await sweeper(LWW)();

    // Assess
    expect(summary).toMatchObject({ autoResolved: 1, failed: 0 });
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).map((x) => x.data)).toEqual([{ email: 'big@erp.io' }]);
  });

  it('does not settle a field again while its first resolution is on its way, nor let a reviewer override it', async () => {
    // Prepare: three sources edit email concurrently (two conflicts on one field); the first sweep settles it.
    await threeWay('three', T0 - 20 * MINUTE);
    await sweeper(LWW)();
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).map((c) => c.data)).toEqual([{ email: 'c@erp.io' }]);
    const sibling = (await conflicts.list('people', 'open'))[0]!;

    // Act: the resolve step has not merged the resolution yet; another sweep runs, and a reviewer tries the sibling.
    clock.advance(MINUTE);
    const second = await sweeper(LWW)();
    const answer = await review().resolve('people', sibling.id, { choose: 'incoming', by: 'alice' });

    // Assess: nothing more is sent; the sibling stays open until the merge supersedes it.
    expect(second).toMatchObject({ autoResolved: 0, failed: 0 });
    expect(answer.status).toBe(409);
    expect((answer.body as { message: string }).message).toMatch(/resolution is on its way/);
    expect(publisher.bodies(RESOLVE_QUEUE)).toHaveLength(1);
    expect(await conflicts.get('people', sibling.id)).toMatchObject({ status: 'open' });
  });

  it('does not settle a field whose sibling a reviewer resolves between the sweep\'s checks and its write', async () => {
    // Prepare: two conflicts on one field; the reviewer resolves the one the sweep does not pick, just before the
    // sweep's own transition (after its in-flight checks saw both open).
    const opened = await threeWay('three', T0 - 20 * MINUTE);
    const other = opened.find((c) => c.incoming.source !== 'erp')!;
    const markResolved = conflicts.markResolved.bind(conflicts);
    conflicts.markResolved = async (flow, id, r, siblings) => {
      if (r.resolvedBy !== 'alice') expect((await review().resolve('people', other.id, { choose: 'current', by: 'alice' })).status).toBe(202);
      return markResolved(flow, id, r, siblings);
    };

    // Act
    const summary = await sweeper(LWW)();

    // Assess: only the reviewer's resolution is sent for the field.
    expect(summary).toMatchObject({ autoResolved: 0 });
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE).map((c) => c.data)).toEqual([{ email: 'c@crm.io' }]);
    expect(await conflicts.get('people', opened.find((c) => c.incoming.source === 'erp')!.id)).toMatchObject({ status: 'open' });
  });

  it('answers a reviewer 409 when a sibling of the field was resolved between the reviewer\'s checks and its write', async () => {
    // Prepare: another resolution of the sibling lands just before the reviewer's own transition.
    const opened = await threeWay('three', T0 - 20 * MINUTE);
    const [mine, other] = [opened[0]!, opened[1]!];
    const markResolved = conflicts.markResolved.bind(conflicts);
    conflicts.markResolved = async (flow, id, r, siblings) => {
      if (id === mine.id) await markResolved(flow, other.id, { ...r, resolvedBy: 'bob', changeId: 'bobs' });
      return markResolved(flow, id, r, siblings);
    };

    // Act
    const answer = await review().resolve('people', mine.id, { choose: 'incoming', by: 'alice' });

    // Assess
    expect(answer.status).toBe(409);
    expect(publisher.bodies(RESOLVE_QUEUE)).toEqual([]);
    expect(await conflicts.get('people', mine.id)).toMatchObject({ status: 'open' });
  });

  it('settles a field again once its resolution has been on its way longer than a resolve queue keeps retrying it (the change was lost)', async () => {
    // Prepare: the field is settled, and its change never reaches the record (lost, or left in the DLQ).
    await threeWay('lost', T0 - 20 * MINUTE);
    await sweeper(LWW)();
    const [first] = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE);
    const resolved = (await conflicts.list('people', 'resolved'))[0]!;

    // Act: well past RESOLUTION_IN_FLIGHT_MS.
    clock.advance(RESOLUTION_IN_FLIGHT_MS + MINUTE);
    const again = await sweeper(LWW)();

    // Assess: the field is settled again, with the same winner, through the reopened conflict.
    expect(again).toMatchObject({ autoResolved: 1, failed: 0 });
    const changes = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE);
    expect(changes.map((c) => c.data)).toEqual([{ email: 'c@erp.io' }, { email: 'c@erp.io' }]);
    expect(changes[1]!.id).not.toBe(first!.id);
    expect(await conflicts.get('people', resolved.id)).toMatchObject({ status: 'resolved', resolvedAt: T0 + RESOLUTION_IN_FLIGHT_MS + MINUTE });

    // Act: the same for a reviewer, once that resolution is lost as well.
    clock.advance(RESOLUTION_IN_FLIGHT_MS + MINUTE);
    const answer = await review().resolve('people', resolved.id, { choose: 'current', by: 'alice' });

    // Assess
    expect(answer.status).toBe(202);
    expect(await conflicts.get('people', resolved.id)).toMatchObject({ status: 'resolved', resolvedBy: 'alice' });
  });

  it('keeps a conflict open when its resolution cannot be queued, publishes the gauge, then fails the run', async () => {
    // Prepare
    const [old1] = await clash('old-1', T0 - 20 * MINUTE);
    const [old2] = await clash('old-2', T0 - 15 * MINUTE);
    publisher.failWhen = (m) => (JSON.parse(m.body) as ChangeEnvelope).key === 'old-2';

    // Act
    const run = sweeper(LWW)();

    // Assess
    await expect(run).rejects.toThrow(/1 of 2 auto-resolution\(s\) of flow "people" could not be queued/);
    expect(await conflicts.get('people', old2!.id)).toMatchObject({ status: 'open' });
    expect(await conflicts.get('people', old1!.id)).toMatchObject({ status: 'resolved' });
    expect(metrics.gauges).toEqual([{ name: 'OpenConflicts', value: 1 }]);
  });

  it('leaves due conflicts for the next run when the invocation is about to time out', async () => {
    // Prepare
    await clash('old-1', T0 - 20 * MINUTE);
    await clash('old-2', T0 - 15 * MINUTE);

    // Act
    const summary = await sweeper(LWW)({ remainingMs: () => 5_000 });

    // Assess: nothing settled, and no count read (it reads every open conflict) with the time that is left.
    expect(summary).toMatchObject({ autoResolved: 0, deferred: 2 });
    expect(summary.open).toBeUndefined();
    expect(metrics.gauges).toEqual([]);
    expect(publisher.calls).toBe(0);
  });
});

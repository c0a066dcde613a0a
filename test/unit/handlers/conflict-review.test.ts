import { beforeEach, describe, expect, it, vi } from 'vitest';
import { flowSchema } from '../../../functions/config/schema';
import { eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { REVIEW_SOURCE, type Conflict } from '../../../functions/core/merge';
import { parseJsonBody } from '../../../functions/handlers/admin-api';
import { CONFLICT_OPENED, createConflictReview } from '../../../functions/handlers/conflict-review';
import { MAX_LISTING_BYTES } from '../../../functions/handlers/answer-size';
import type { StoredConflict } from '../../../functions/ports';
import { createResolveHandler } from '../../../functions/handlers/resolve-handler';
import {
  FakeClock,
  FakePublisher,
  InMemoryAuditLog,
  InMemoryConflictStore,
  InMemoryQuarantineStore,
  InMemoryStateStore,
  RecordingEventPublisher,
  sqsEvent,
} from '../../fixtures/fakes';
import { manualFlow } from '../../fixtures/flows';
import { fakeStepContext } from '../../fixtures/step-context';

const RESOLVE_QUEUE = 'https://sqs.local/people-resolve';
const NOW = 50_000;

const conflict: Conflict = {
  id: 'c1',
  flow: 'people',
  key: 'p1',
  field: 'email',
  current: { value: 'a@x.io', source: 'crm', clock: { ts: 1000, src: 'crm', seq: 'w#0', id: 'e0' } },
  incoming: { value: 'b@x.io', source: 'erp', clock: { ts: 1001, src: 'erp', seq: 'w#1', id: 'e1' } },
};

function change(source: string, n: number, data: Record<string, unknown>, ts: number): ChangeEnvelope {
  return { v: 1, id: eventId('people', source, 'w', n), flow: 'people', source, key: 'p1', op: 'upsert', data, ts, seq: `w#${n}`, lineage: [] };
}

describe('conflict review use case', () => {
  let conflicts: InMemoryConflictStore;
  let publisher: FakePublisher;
  let audit: InMemoryAuditLog;
  const review = () =>
    createConflictReview({ flows: new Map([['people', { flow: manualFlow, resolveQueueUrl: RESOLVE_QUEUE }]]), conflicts, publisher, audit, hashKey: 'k', clock: new FakeClock(NOW) });

  beforeEach(async () => {
    ({ conflicts, publisher, audit } = fakeStepContext());
    await conflicts.open([conflict], 2000);
  });

  it.each([
    [{ choose: 'current' }, 'a@x.io'],
    [{ choose: 'incoming' }, 'b@x.io'],
    [{ value: { primary: 'c@x.io' } }, { primary: 'c@x.io' }],
  ])('resolves with %j: marks the conflict and queues a dominating review change', async (body, expected) => {
    // Act
    const res = await review().resolve('people', 'c1', { ...body, by: 'alice' });

    // Assess
    expect(res.status).toBe(202);
    const [env, ...rest] = publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE);
    expect(rest).toEqual([]);
    expect(env).toMatchObject({ flow: 'people', key: 'p1', source: REVIEW_SOURCE, op: 'upsert', data: { email: expected } });
    expect(env!.ts).toBeGreaterThan(Math.max(conflict.current.clock.ts, conflict.incoming.clock.ts));
    expect(res.body).toMatchObject({ changeId: env!.id, conflict: { id: 'c1', status: 'resolved', resolvedBy: 'alice', resolvedAt: NOW, choice: body } });
    expect(await conflicts.get('people', 'c1')).toMatchObject({ status: 'resolved', resolvedBy: 'alice', changeId: env!.id });
    expect(audit.entries).toEqual([expect.objectContaining({ source: REVIEW_SOURCE, eventId: env!.id, outcome: 'captured', reason: expect.stringContaining('by alice') })]);
  });

  it('masks a given value like the field is masked in records, so state never holds it unmasked', async () => {
    // Prepare: the flow masks emails.
    const masking = { ...manualFlow, transform: { ...manualFlow.transform, mask: { email: 'email' as const } } };
    const reviewing = createConflictReview({ flows: new Map([['people', { flow: masking, resolveQueueUrl: RESOLVE_QUEUE }]]), conflicts, publisher, hashKey: 'k', clock: new FakeClock(NOW) });

    // Act
    const res = await reviewing.resolve('people', 'c1', { value: 'carol@x.io' });

    // Assess
    expect(res.status).toBe(202);
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE_QUEUE)[0]!.data).toEqual({ email: '****@x.io' });
  });

  it('takes the user from the header when the body names none, else "local"', async () => {
    expect((await review().resolve('people', 'c1', { choose: 'current' }, 'bob')).body).toMatchObject({ conflict: { resolvedBy: 'bob' } });
    await conflicts.open([{ ...conflict, id: 'c2' }], 2000);
    expect((await review().resolve('people', 'c2', { choose: 'current' })).body).toMatchObject({ conflict: { resolvedBy: 'local' } });
  });

  it("refuses a name of syncline's own (syncline:...) from the body or the header, and resolves nothing", async () => {
    expect(await review().resolve('people', 'c1', { choose: 'current', by: 'syncline:auto-resolve' })).toMatchObject({ status: 400, body: { message: expect.stringContaining('reserved') } });
    expect(await review().resolve('people', 'c1', { choose: 'current' }, 'syncline:auto-resolve')).toMatchObject({ status: 400, body: { message: expect.stringContaining('x-syncline-user') } });
    expect((await conflicts.get('people', 'c1'))?.status).toBe('open');
    // A body's name is who asks locally: the header is not read then.
    expect((await review().resolve('people', 'c1', { choose: 'current', by: 'ana' }, 'syncline:x')).body).toMatchObject({ conflict: { resolvedBy: 'ana' } });
  });

  it('answers 409 when resolving twice, and sends nothing the second time', async () => {
    // Act
    const first = await review().resolve('people', 'c1', { choose: 'incoming' });
    const second = await review().resolve('people', 'c1', { choose: 'current' });

    // Assess
    expect(first.status).toBe(202);
    expect(second.status).toBe(409);
    expect((second.body as { message: string }).message).toContain('already resolved');
    expect(publisher.bodies(RESOLVE_QUEUE)).toHaveLength(1);
  });

  it('answers 409 when another resolution wins between the read and the conditional update', async () => {
    // Prepare
    const markResolved = conflicts.markResolved.bind(conflicts);
    conflicts.markResolved = async (flow, id, r) => {
      await markResolved(flow, id, { ...r, resolvedBy: 'someone-else', changeId: 'other' });
      return markResolved(flow, id, r);
    };

    // Act
    const res = await review().resolve('people', 'c1', { choose: 'incoming' });

    // Assess
    expect(res.status).toBe(409);
    expect(publisher.calls).toBe(0);
  });

  it.each([
    [undefined],
    [{}],
    [{ choose: 'both' }],
    [{ choose: 'current', value: 1 }],
    [{ value: 1, extra: true }],
    [{ choose: 'current', by: '' }],
    [{ choose: 'current', by: 'syncline:auto-resolve' }],
    [[1]],
    ['current'],
  ])('answers 400 for the body %j', async (body) => {
    const res = await review().resolve('people', 'c1', body);
    expect(res.status).toBe(400);
    expect((res.body as { message: string }).message).toMatch(/invalid body/);
    expect((await conflicts.get('people', 'c1'))?.status).toBe('open');
    // A body's name is who asks locally: the header is not read then.
    expect((await review().resolve('people', 'c1', { choose: 'current', by: 'ana' }, 'syncline:x')).body).toMatchObject({ conflict: { resolvedBy: 'ana' } });
  });

  it.each([
    ['a number beyond 2^53', '{"value": 12345678901234567890}', /\$\.value is an integer beyond 2\^53/],
    ['an empty field name', '{"value": {"": 1}}', /\$\.value has a field with an empty name/],
    ['nesting deeper than records may', `{"value": ${'['.repeat(30)}1${']'.repeat(30)}}`, /nest/],
  ])('answers 400 naming the path for a given value with %s, and settles nothing', async (_what, raw, why) => {
    // Act: the body as the admin API parses it.
    const res = await review().resolve('people', 'c1', parseJsonBody(raw));

    // Assess
    expect(res.status).toBe(400);
    expect((res.body as { message: string }).message).toMatch(why);
    expect(publisher.bodies(RESOLVE_QUEUE)).toEqual([]);
    expect((await conflicts.get('people', 'c1'))?.status).toBe('open');
    // A body's name is who asks locally: the header is not read then.
    expect((await review().resolve('people', 'c1', { choose: 'current', by: 'ana' }, 'syncline:x')).body).toMatchObject({ conflict: { resolvedBy: 'ana' } });
  });

  it('answers 404 for an unknown flow or conflict', async () => {
    expect((await review().resolve('ghost', 'c1', { choose: 'current' })).status).toBe(404);
    expect((await review().resolve('people', 'nope', { choose: 'current' })).status).toBe(404);
  });

  it('answers 404 for an id longer than DynamoDB keys, without asking the table (it would refuse the key)', async () => {
    const get = vi.spyOn(conflicts, 'get');
    const res = await review().resolve('people', 'c'.repeat(3000), { choose: 'current' });
    expect(res).toEqual({ status: 404, body: { message: `conflict "${'c'.repeat(80)}…" of flow "people" not found` } });
    expect(get).not.toHaveBeenCalled();
  });

  it('re-opens the conflict and answers 503 when the change cannot be queued', async () => {
    // Prepare
    publisher.throwSends = 1;

    // Act
    const res = await review().resolve('people', 'c1', { choose: 'current' });

    // Assess
    expect(res.status).toBe(503);
    expect(await conflicts.get('people', 'c1')).toMatchObject({ status: 'open' });
    expect((await conflicts.get('people', 'c1'))?.resolvedBy).toBeUndefined();
    expect((await review().resolve('people', 'c1', { choose: 'current' })).status).toBe(202);
  });

  it('lists open conflicts by default, resolved ones with status=resolved, and refuses another status', async () => {
    // Prepare
    await conflicts.open([{ ...conflict, id: 'c2' }], 2000);
    await review().resolve('people', 'c1', { choose: 'current' });

    // Act / Assess
    expect(((await review().list('people')).body as Conflict[]).map((c) => c.id)).toEqual(['c2']);
    expect(((await review().list('people', 'resolved')).body as Conflict[]).map((c) => c.id)).toEqual(['c1']);
    expect(((await review().list('people', 'all')).body as Conflict[]).map((c) => c.id).sort()).toEqual(['c1', 'c2']);
    expect((await review().list('people', 'maybe')).status).toBe(400);
    expect((await review().list('ghost')).status).toBe(404);
  });

  it('lists a page of conflicts, and past 4 MB of values lists the rest of the page without theirs, saying so', async () => {
    // Prepare: 30 more open conflicts over records with 300 KB values (9 MB in all; a function answers at most 6 MB).
    const big = 'x'.repeat(300 * 1024);
    await conflicts.open(Array.from({ length: 30 }, (_, i) => ({ ...conflict, id: `big-${String(i).padStart(2, '0')}`, current: { ...conflict.current, value: big }, incoming: { ...conflict.incoming, value: big } })), 3000);

    // Act
    const page = (await review().list('people', 'open', { limit: 20, after: { openedAt: 2000, id: 'c1' } })).body as StoredConflict[];

    // Assess: the 20 after c1, oldest first, the answer within the cap, every conflict in its place.
    expect(page.map((c) => c.id)).toEqual(Array.from({ length: 20 }, (_, i) => `big-${String(i).padStart(2, '0')}`));
    expect(Buffer.byteLength(JSON.stringify(JSON.stringify(page)))).toBeLessThanOrEqual(MAX_LISTING_BYTES);
    const whole = page.filter((c) => c.omitted === undefined);
    expect(whole.length).toBeGreaterThan(0);
    expect(whole.length).toBeLessThan(page.length);
    expect(page.slice(whole.length).every((c) => c.current.value === undefined && c.incoming.value === undefined && /^values left out of this listing/.test(c.omitted!))).toBe(true);
  });
});

describe('resolve handler: ConflictOpened events', () => {
  const resolveAnnouncing = (flow: typeof manualFlow, conflicts: InMemoryConflictStore, events: RecordingEventPublisher) =>
    createResolveHandler({
      flow,
      stateStore: new InMemoryStateStore(),
      audit: new InMemoryAuditLog(),
      conflicts,
      quarantine: new InMemoryQuarantineStore(),
      publisher: new FakePublisher(),
      events,
      deliverQueueUrls: { replica: 'https://sqs.local/people-deliver-replica' },
      clock: new FakeClock(NOW),
    });

  it('puts one event per newly opened conflict, not again when a later change re-reports it', async () => {
    // Prepare
    const conflicts = new InMemoryConflictStore();
    const events = new RecordingEventPublisher();
    const handler = resolveAnnouncing(manualFlow, conflicts, events);

    // Act
    await handler(sqsEvent([change('crm', 0, { id: 'p1', email: 'a@x.io' }, 1000), change('erp', 1, { id: 'p1', email: 'b@x.io' }, 1001)]));
    await handler(sqsEvent([change('crm', 2, { id: 'p1', name: 'Ada' }, 1002)]));

    // Assess
    const [open] = await conflicts.list('people', 'open');
    expect(events.events).toEqual([
      {
        source: 'syncline',
        detailType: CONFLICT_OPENED,
        detail: expect.objectContaining({ flow: 'people', key: 'p1', field: 'email', conflictId: open!.id, current: expect.objectContaining({ source: 'crm' }), incoming: expect.objectContaining({ source: 'erp' }) }),
      },
    ]);
  });

  it('leaves the values out of the event when a target receives PII unmasked (allowPii), so the bus never carries it', async () => {
    // Prepare
    const flow = flowSchema.parse({ ...manualFlow, pii: ['email'], targets: manualFlow.targets.map((t) => ({ ...t, allowPii: ['email'] })) });
    const events = new RecordingEventPublisher();
    const handler = resolveAnnouncing(flow, new InMemoryConflictStore(), events);

    // Act
    await handler(sqsEvent([change('crm', 0, { id: 'p1', email: 'a@x.io' }, 1000), change('erp', 1, { id: 'p1', email: 'b@x.io' }, 1001)]));

    // Assess
    expect(events.events).toHaveLength(1);
    expect(events.events[0]!.detail).toMatchObject({ field: 'email', omitted: expect.stringContaining('allowPii') });
    expect(JSON.stringify(events.events)).not.toMatch(/a@x\.io|b@x\.io/);
  });

  it('does not fail the batch when the events cannot be put (the conflict is stored and listed)', async () => {
    // Prepare
    const conflicts = new InMemoryConflictStore();
    const events = new RecordingEventPublisher();
    events.throwPuts = 1;
    const handler = resolveAnnouncing(manualFlow, conflicts, events);

    // Act
    const res = await handler(sqsEvent([change('crm', 0, { id: 'p1', email: 'a@x.io' }, 1000), change('erp', 1, { id: 'p1', email: 'b@x.io' }, 1001)]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(await conflicts.list('people', 'open')).toHaveLength(1);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { mergeChanges } from '../../../functions/core/merge';
import { compileTransform } from '../../../functions/core/transform/pipeline';
import { createDeliverTargetHandler } from '../../../functions/handlers/deliver-target-handler';
import { replayRecords } from '../../../functions/handlers/record-replay';
import { noProgress } from '../../../lib/cli/progress';
import { replayInChunks as replayByTime } from '../../../lib/cli/replay';
import type { SynclineTarget } from '../../../lib/cli/target';
import type { DeliveryMessage } from '../../../functions/handlers/step-messages';
import { parseJsonBody } from '../../../functions/handlers/admin-api';
import { tryRecord, type TryAnswer } from '../../../functions/handlers/try-record';
import { printTry } from '../../../lib/cli/try';
import type { BatchTargetWriter, TargetWrite } from '../../../functions/ports';
import { flowSchema } from '../../../functions/config/schema';
import { FakeClock, InMemoryAuditLog, InMemoryStateStore, sqsEvent, type FakePublisher } from '../../fixtures/fakes';
import { fakeStepContext } from '../../fixtures/step-context';

const flowWith = (extra: Record<string, unknown> = {}) =>
  flowSchema.parse({
    id: 'contacts',
    key: ['id'],
    sources: [{ id: 'crm', type: 'webhook', timestampField: 'updatedAt' }],
    targets: [
      { id: 'api', type: 'http', url: 'https://api.example.com/contacts/{key}' },
      { id: 'lake', type: 's3' },
    ],
    ...extra,
  });
const flow = flowWith();
const QUEUES = { api: 'https://sqs.local/deliver-api', lake: 'https://sqs.local/deliver-lake' };
const HOUR = 3_600_000;

function seed(store: InMemoryStateStore, key: string, version: number, updatedAt: number, delivered: Record<string, { version: number; hash: string }> = {}) {
  const merged = mergeChanges(flow, undefined, [{ v: 1, id: `e-${key}`, flow: 'contacts', source: 'crm', key, op: 'upsert', data: { id: key, name: `n-${key}` }, ts: 1000, seq: '1', lineage: [] }]);
  store.seed({ flow: 'contacts', key, version, doc: merged.doc, view: merged.view, delivered, updatedAt });
  return merged.view;
}

describe('record replay (POST /flows/{flowId}/replay)', () => {
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let publisher: FakePublisher;
  let clock: FakeClock;
  const deps = (over: Partial<Parameters<typeof replayRecords>[0]> = {}) => ({ flow, deliverQueues: QUEUES, state, audit, publisher, clock, ...over });

  beforeEach(() => {
    ({ state, audit, publisher, clock } = fakeStepContext());
  });

  it('queues a replay delivery of each key to the chosen target and audits who asked', async () => {
    // Prepare
    seed(state, 'c1', 3, 1);

    // Act
    const answer = await replayRecords(deps(), { keys: ['c1', 'gone'], targets: ['api'], by: 'ana' }, undefined);

    // Assess
    expect(answer).toEqual({ status: 200, body: { flow: 'contacts', targets: ['api'], dryRun: false, keys: ['c1'], notFound: ['gone'], selection: 'keys', notes: [], by: 'ana' } });
    expect(publisher.bodies<DeliveryMessage>(QUEUES.api)).toEqual([expect.objectContaining({ key: 'c1', version: 3, replay: { by: 'ana', at: clock.now() } })]);
    expect(publisher.sent.get(QUEUES.lake)).toBeUndefined();
    expect(audit.entries).toEqual([expect.objectContaining({ key: 'c1', step: 'deliver', outcome: 'replayed', version: 3, reason: 'replay to api asked by ana', detail: { by: 'ana', targets: ['api'] } })]);
  });

  it('in AWS the IAM caller is who asked (a body "by" is added to it); no caller is a 401', async () => {
    seed(state, 'c1', 1, 1);
    const asked = await replayRecords(deps({ authenticatedCaller: true }), { keys: ['c1'], by: 'ana' }, 'arn:aws:iam::1:user/ops');
    expect(asked.body).toMatchObject({ by: 'arn:aws:iam::1:user/ops (as ana)', targets: ['api', 'lake'] });
    expect((await replayRecords(deps({ authenticatedCaller: true }), { keys: ['c1'] }, undefined)).status).toBe(401);
  });

  it('selects keys by their last change from resolve entries of the window, pages them, and checks each state', async () => {
    // Prepare: c1..c3 changed in the window; c3 changed again after it (its last change is outside); c4 only filtered.
    const since = clock.now() - HOUR;
    for (const [key, at] of [['c1', since + 10], ['c2', since + 20], ['c3', since + 30]] as const) {
      await audit.write([{ flow: 'contacts', key, step: 'resolve', at, source: 'crm', eventId: `e-${key}`, outcome: 'won' }]);
      seed(state, key, 1, key === 'c3' ? clock.now() : at);
    }
    await audit.write([{ flow: 'contacts', key: 'c4', step: 'transform', at: since + 40, source: 'crm', eventId: 'e-c4', outcome: 'filtered' }]);
    seed(state, 'c4', 1, since + 40);

    // Act
    const first = await replayRecords(deps(), { since, until: since + HOUR - 1, max: 1, dryRun: true }, undefined);
    const rest = await replayRecords(deps(), { since: new Date(since).toISOString(), until: new Date(since + HOUR - 1).toISOString(), after: 'c1', dryRun: true }, undefined);

    // Assess
    expect(first.body).toMatchObject({ keys: ['c1'], next: 'c1', selection: 'audit-time-index', dryRun: true });
    expect(rest.body).toMatchObject({ keys: ['c2'], dryRun: true });
    expect((rest.body as { next?: string }).next).toBeUndefined();
    expect(publisher.calls).toBe(0);
    expect(audit.outcomes().filter((o) => o === 'replayed')).toEqual([]);
  });

  it('says when a window reaches past the audit retention', async () => {
    const since = clock.now() - 100 * 86_400_000;
    const answer = await replayRecords(deps(), { since, until: since + 1000, dryRun: true }, undefined);
    expect((answer.body as { notes: string[] }).notes).toEqual([expect.stringContaining('past the audit retention (90 days)')]);
  });

  it('walks a window from before the audit retention in the hours the retention still holds, with one note', async () => {
    // Prepare: a key changed an hour ago; the replay asks from 200 days back (retention 90 days).
    const now = clock.now();
    await audit.write([{ flow: 'contacts', key: 'c1', step: 'resolve', at: now - HOUR, source: 'crm', eventId: 'e-c1', outcome: 'won' }]);
    seed(state, 'c1', 1, now - HOUR);
    let requests = 0;
    const target = {
      name: 'fake',
      post: async (_path: string, body: unknown) => {
        requests++;
        clock.advance(1);
        return (await replayRecords(deps(), body, undefined)).body;
      },
    } as unknown as SynclineTarget;

    // Act
    const result = await replayByTime(target, 'contacts', { since: now - 200 * 86_400_000, until: now, dryRun: true }, noProgress);

    // Assess: the first hour, then the 90 days the audit trail holds; not the 110 days before them.
    expect(result.keys).toEqual(['c1']);
    expect(result.notes).toEqual([expect.stringContaining('past the audit retention (90 days)')]);
    expect(requests).toBeLessThanOrEqual(1 + 90 * 24 + 1);
  });

  it('refuses with a 4xx and a message: both selections, a window over an hour, audit level errors, an unknown target', async () => {
    const now = clock.now();
    expect(await replayRecords(deps(), { keys: ['a'], since: now }, undefined)).toMatchObject({ status: 400, body: { message: expect.stringContaining('give "keys" or "since"') } });
    expect(await replayRecords(deps(), { since: now - 2 * HOUR, until: now }, undefined)).toMatchObject({ status: 400, body: { message: expect.stringContaining('at most one hour per request') } });
    expect(await replayRecords(deps({ flow: flowWith({ audit: { level: 'errors' } }) }), { since: now - 10, until: now }, undefined)).toMatchObject({ status: 400, body: { message: expect.stringContaining('replay by --key') } });
    expect(await replayRecords(deps(), { keys: ['a'], targets: ['nope'] }, undefined)).toMatchObject({ status: 404, body: { message: expect.stringContaining('no target "nope"') } });
    expect(await replayRecords(deps(), 'x', undefined)).toMatchObject({ status: 400 });
    // syncline's own names, from the body or (locally) the header.
    expect(await replayRecords(deps(), { keys: ['a'], by: 'syncline:x' }, undefined)).toMatchObject({ status: 400, body: { message: expect.stringContaining('reserved') } });
    expect(await replayRecords(deps(), { keys: ['a'] }, 'syncline:x')).toMatchObject({ status: 400, body: { message: expect.stringContaining('x-syncline-user') } });
    // A time past the latest a Date holds (8.64e15 ms): no hour of the audit trail can be named.
    expect(await replayRecords(deps(), { since: 8_640_000_000_000_001, until: 8_640_000_000_000_002, dryRun: true }, undefined)).toMatchObject({ status: 400, body: { message: expect.stringContaining('since') } });
  });

  it('writes no replayed entry when a delivery could not be queued (the caller sees the failure and runs it again)', async () => {
    seed(state, 'c1', 1, 1);
    publisher.failIds.add('c1');
    await expect(replayRecords(deps(), { keys: ['c1'] }, undefined)).rejects.toThrow('could not queue 1 replay(s) for target "api"');
    expect(audit.entries).toEqual([]);
  });
});

describe('a replayed delivery at a batch target', () => {
  it('writes the current state although the marker has that version, and audits who asked; without replay it is skipped', async () => {
    // Prepare
    const state = new InMemoryStateStore();
    const audit = new InMemoryAuditLog();
    const view = seed(state, 'c1', 2, 1, { api: { version: 2, hash: 'h' } });
    const writes: TargetWrite[] = [];
    const writer: BatchTargetWriter = { writeBatch: async (changes) => (writes.push(...changes), new Map(changes.map((c) => [c.key, { status: 'written' as const }]))) };
    const handler = createDeliverTargetHandler({ flow, targetId: 'api', stateStore: state, leases: state, writer, audit, clock: new FakeClock() });
    const msg = (replay?: DeliveryMessage['replay']): DeliveryMessage => ({ v: 1, flow: 'contacts', key: 'c1', version: 2, hash: view.hash, ts: 1, eventIds: ['r1'], ...(replay ? { replay } : {}) });

    // Act
    await handler(sqsEvent([msg()]));
    await handler(sqsEvent([msg({ by: 'ana', at: 5 })]));

    // Assess
    expect(writes.map((w) => [w.key, w.version])).toEqual([['c1', 2]]);
    expect(audit.entries.map((e) => [e.outcome, e.detail?.replayedBy])).toEqual([
      ['skipped', undefined],
      ['delivered', 'ana'],
    ]);
  });
});

describe('dry run of a record (POST /flows/{flowId}/try)', () => {
  const run = (f: typeof flow, body: unknown, state = new InMemoryStateStore()) =>
    tryRecord({ flow: f, transformer: async () => compileTransform(f, { hashKey: 'k' }), state, now: () => Date.UTC(2026, 0, 15) }, body);

  it('answers 400 for a body without a record object and 404 for an unknown source', async () => {
    expect(await run(flow, { record: [1] })).toMatchObject({ status: 400, body: { message: expect.stringContaining('"record"') } });
    expect(await run(flow, { record: {}, source: 'erp' })).toMatchObject({ status: 404, body: { message: 'flow "contacts" has no source "erp" (sources: crm)' } });
  });

  it('reads the headers a deleteWhen $headers pattern names from the body, and takes a delete without its timestamp', async () => {
    const f = flowSchema.parse({ id: 'shop', key: ['id'], sources: [{ id: 'shopify', type: 'webhook', timestampField: 'updated_at', deleteWhen: { $headers: { 'x-shopify-topic': ['products/delete'] } } }], targets: [{ id: 't', type: 'dynamodb' }] });
    expect((await run(f, { record: { id: 1 }, headers: { 'X-Shopify-Topic': 'products/delete' } })).body).toMatchObject({ outcome: 'passed', op: 'delete' });
    expect((await run(f, { record: { id: 1 }, headers: { 'X-Shopify-Topic': 'products/update' } })).body).toMatchObject({ outcome: 'quarantined', reason: 'timestampField "updated_at" is missing' });
    expect(await run(f, { record: { id: 1 }, headers: { 'x-shopify-topic': 7 } })).toMatchObject({ status: 400, body: { message: '"headers" must map header names to strings' } });
    expect((await run(f, { record: { id: 1, updated_at: 'soon' }, headers: { 'x-shopify-topic': 'products/delete' } })).body).toMatchObject({ outcome: 'quarantined', op: 'delete' });
  });

  it('quarantines at capture a record the source would refuse (its timestamp), and prints its one reason once', async () => {
    const answer = await run(flow, { record: { id: '1', updatedAt: 'soon' } });
    expect(answer.body).toMatchObject({ outcome: 'quarantined', reason: 'timestampField "updatedAt" is not an ISO-8601 time, epoch ms or epoch seconds' });
    const lines: string[] = [];
    printTry({ args: [], out: (l) => lines.push(l), err: () => undefined }, answer.body as TryAnswer);
    expect(lines).toEqual(['contacts from source crm: QUARANTINED (upsert): timestampField "updatedAt" is not an ISO-8601 time, epoch ms or epoch seconds']);
  });

  it("takes an sqs or eventbridge source's timestampField as its capture does", async () => {
    const f = flowSchema.parse({
      id: 'queued',
      key: ['id'],
      sources: [
        { id: 'inbox', type: 'sqs', timestampField: 'updatedAt' },
        { id: 'bus', type: 'eventbridge', pattern: { source: ['crm'] }, timestampField: 'updatedAt' },
      ],
      targets: [{ id: 't', type: 'dynamodb' }],
    });
    for (const source of ['inbox', 'bus']) {
      expect((await run(f, { source, record: { id: '1' } })).body).toMatchObject({ outcome: 'quarantined', reason: 'timestampField "updatedAt" is missing' });
      expect((await run(f, { source, record: { id: '1', updatedAt: '2026-01-10T08:00:00.250Z' } })).body).toMatchObject({ outcome: 'passed' });
    }
  });

  it('reads an SNS notification given for an sqs source as its capture does: its Message is the record', async () => {
    const f = flowSchema.parse({ id: 'queued', key: ['id'], sources: [{ id: 'inbox', type: 'sqs', timestampField: 'updatedAt' }], targets: [{ id: 't', type: 'dynamodb' }] });
    const notification = (message: string) => ({ Type: 'Notification', MessageId: 'm-1', TopicArn: 'arn:aws:sns:us-east-2:111122223333:T', Message: message, Timestamp: '2026-01-10T08:00:00.000Z' });
    expect((await run(f, { record: notification(JSON.stringify({ id: '1', updatedAt: '2026-01-10T08:00:00.250Z' })) })).body).toMatchObject({ outcome: 'passed', key: '1' });
    expect((await run(f, { record: notification(JSON.stringify({ id: '1' })) })).body).toMatchObject({ outcome: 'quarantined', reason: 'timestampField "updatedAt" is missing' });
    expect((await run(f, { record: notification('Hello world!') })).body).toMatchObject({ outcome: 'quarantined', reason: expect.stringMatching(/^SNS Message is not valid JSON/) });
  });

  it('quarantines at capture, as the webhook would, a record holding a number a JSON number cannot hold; a delete keeps its key digits', async () => {
    // The body as the admin API parses it: the digits are kept for the capture to judge.
    const body = (raw: string) => parseJsonBody(raw);
    expect((await run(flow, body('{"record": {"id": "1", "updatedAt": "2026-01-14T00:00:00Z", "n": 12345678901234567890}}'))).body).toMatchObject({
      outcome: 'quarantined',
      reason: expect.stringMatching(/^record cannot be carried exactly: number at \$\.n is an integer beyond 2\^53/),
    });
    // Refused at capture, before a schema could say less (the number would fail `type: integer`).
    const typed = flowSchema.parse({ id: 'typed', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], transform: { schema: { type: 'object', properties: { n: { type: 'integer' } } } }, targets: [{ id: 't', type: 'dynamodb' }] });
    expect((await run(typed, body('{"record": {"id": "1", "n": 12345678901234567890}}'))).body).toMatchObject({ outcome: 'quarantined', reason: expect.stringMatching(/^record cannot be carried exactly/) });
    const f = flowSchema.parse({ id: 'big', key: ['id'], sources: [{ id: 'crm', type: 'webhook', deleteWhen: { deleted: [true] } }], targets: [{ id: 't', type: 'dynamodb' }] });
    expect((await run(f, body('{"record": {"id": 12345678901234567890, "deleted": true}}'))).body).toMatchObject({ outcome: 'passed', op: 'delete', key: '12345678901234567890' });
  });

  it('takes a Debezium event for a debezium source: its op, time and row, or skips a table not selected', async () => {
    // Prepare
    const f = flowSchema.parse({ id: 'rows', key: ['id'], sources: [{ id: 'pg', type: 'webhook', format: 'debezium', table: { include: ['shop.rows'] } }], targets: [{ id: 't', type: 'dynamodb' }] });
    const state = new InMemoryStateStore();
    const merged = mergeChanges(f, undefined, [{ v: 1, id: 'x', flow: 'rows', source: 'pg', key: '7', op: 'upsert', data: { id: 7, n: 1 }, ts: 1, seq: '1', lineage: [] }]);
    state.seed({ flow: 'rows', key: '7', version: 4, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 1 });
    const event = { payload: { op: 'd', before: { id: 7, n: 1 }, after: null, source: { ts_ms: 1_700_000_000_000, db: 'shop', table: 'rows' } } };

    // Act
    const answer = await run(f, { record: event }, state);

    // Assess
    expect(answer.body).toMatchObject({ outcome: 'passed', op: 'delete', key: '7', resolve: { outcome: 'changed', deleted: true, currentVersion: 4, version: 5, changedFields: ['id', 'n'] } });
    const other = { payload: { ...event.payload, source: { ...event.payload.source, table: 'other' } } };
    expect((await run(f, { record: other }, state)).body).toMatchObject({ outcome: 'skipped', reason: 'not a row change (table not selected)' });
  });

  it('predicts a Debezium change by its log position and leaves unavailable columns as they are, as resolve does', async () => {
    // Prepare: the state holds a streamed update at PostgreSQL LSN 5000 (commit 4990), stamped 10:00.
    const f = flowSchema.parse({ id: 'rows', key: ['id'], sources: [{ id: 'pg', type: 'webhook', format: 'debezium' }], targets: [{ id: 't', type: 'dynamodb' }] });
    const state = new InMemoryStateStore();
    const streamed = { v: 1 as const, id: 'x', flow: 'rows', source: 'pg', key: '7', op: 'upsert' as const, data: { id: 7, name: 'Anne Marie', body: 'long text' }, ts: Date.UTC(2026, 0, 14, 10), seq: 's', pos: 'pg:00000000000000004990:00000000000000005000', lineage: [] };
    const merged = mergeChanges(f, undefined, [streamed]);
    state.seed({ flow: 'rows', key: '7', version: 2, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 1 });
    const source = (lsn: number, committed: number | null, ms: number) => ({ connector: 'postgresql', db: 'shop', schema: 'public', table: 'rows', lsn, sequence: JSON.stringify([committed === null ? null : String(committed), String(lsn)]), ts_ms: ms });

    // Act: a snapshot read from before it, stamped later; then an update that does not send the TOASTed body (under
    // lww an upsert replaces the whole record, but for the columns it did not send).
    const snapshot = await run(f, { record: { op: 'r', before: null, after: { id: 7, name: 'Anne', body: 'old' }, source: source(10, null, Date.UTC(2026, 0, 14, 11)) } }, state);
    const toast = await run(f, { record: { op: 'u', before: null, after: { id: 7, name: 'Ann', body: '__debezium_unavailable_value' }, source: source(6000, 5990, Date.UTC(2026, 0, 14, 12)) } }, state);

    // Assess
    expect(snapshot.body).toMatchObject({ outcome: 'passed', resolve: { outcome: 'superseded', version: 2, changedFields: [] } });
    expect(toast.body).toMatchObject({ outcome: 'passed', resolve: { outcome: 'changed', version: 3, changedFields: ['name'] } });
  });

  it('quarantines, as the capture would, a MongoDB update of some fields without the document under lww', async () => {
    const f = flowSchema.parse({ id: 'docs', key: ['_id'], sources: [{ id: 'mongo', type: 'webhook', format: 'debezium' }], targets: [{ id: 't', type: 'dynamodb' }] });
    const update = { op: 'u', after: null, before: null, filter: '{"_id": "a3"}', updateDescription: { updatedFields: '{"email": "new@example.com"}', removedFields: [], truncatedArrays: [] }, source: { connector: 'mongodb', db: 'shop', collection: 'people', ts_ms: 1_700_000_000_000, ord: 1 } };
    expect((await run(f, { record: update })).body).toMatchObject({ outcome: 'quarantined', reason: expect.stringContaining('"lww" would replace the record') });
    const perField = flowSchema.parse({ ...f, conflict: { strategy: 'field-lww' } });
    expect((await run(perField, { record: update })).body).toMatchObject({ outcome: 'passed', record: { _id: 'a3', email: 'new@example.com' } });
  });

  it('quarantines, as the capture would, a Debezium row change that names no table for a source with onTruncate "delete"', async () => {
    const f = flowSchema.parse({ id: 'rows', key: ['id'], sources: [{ id: 'pg', type: 'webhook', format: 'debezium', onTruncate: 'delete' }], targets: [{ id: 't', type: 'dynamodb' }] });
    const answer = await run(f, { record: { op: 'c', before: null, after: { id: 7 }, source: null, ts_ms: 1_700_000_000_000 } });
    expect(answer.body).toMatchObject({ outcome: 'quarantined', reason: 'the event names no table (source.table), which onTruncate "delete" needs' });
  });

  it('says a delete of a deleted key changes nothing in the record, and that only its clocks would move', async () => {
    // Prepare: the key is already deleted.
    const f = flowSchema.parse({ id: 'shop', key: ['id'], sources: [{ id: 'crm', type: 'webhook', deleteWhen: { deleted: [true] } }], targets: [{ id: 't', type: 'dynamodb' }] });
    const state = new InMemoryStateStore();
    const gone = mergeChanges(f, undefined, [{ v: 1, id: 'x', flow: 'shop', source: 'crm', key: '1', op: 'delete', ts: 1, seq: '1', lineage: [] }]);
    state.seed({ flow: 'shop', key: '1', version: 3, doc: gone.doc, view: gone.view, delivered: {}, updatedAt: 1 });
    const lines: string[] = [];

    // Act
    const answer = await run(f, { record: { id: '1', deleted: true } }, state);
    printTry({ args: [], out: (l) => lines.push(l), err: () => undefined }, answer.body as TryAnswer);

    // Assess
    expect(answer.body).toMatchObject({ outcome: 'passed', op: 'delete', resolve: { outcome: 'unchanged', deleted: true, currentVersion: 3, version: 4, changedFields: [] } });
    expect(lines).toContainEqual(expect.stringMatching(/^  resolve: NO CHANGE to the record \(v3 -> v4, only the clocks in its state move\): /));
  });
});

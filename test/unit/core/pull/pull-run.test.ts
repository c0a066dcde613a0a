import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../../functions/config/schema';
import { runPull, type PullDeps } from '../../../../functions/core/pull/pull-run';
import type { ScheduleSource } from '../../../../functions/core/pull/records';
import { RunStopError } from '../../../../functions/core/pull/run-stop';
import { parseJsonExact } from '../../../../functions/core/json-safety';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryQuarantineStore, RecordingLogger, RecordingMetrics } from '../../../fixtures/fakes';
import { ArrayPullReader, InMemoryPullStateStore } from '../../../fixtures/pull-fakes';

const Q = 'https://sqs.test/transform';

function setup(sourceOverrides: Record<string, unknown>, pages: unknown[][], flowOverrides: Record<string, unknown> = {}) {
  const flow = flowSchema.parse({
    id: 'people',
    key: ['id'],
    sources: [{ id: 'api', type: 'schedule', every: '5 minutes', http: { url: 'https://api.test/people' }, ...sourceOverrides }],
    targets: [{ id: 'replica', type: 'dynamodb' }],
    ...flowOverrides,
  });
  const log: string[] = [];
  const state = new InMemoryPullStateStore(log);
  const publisher = new FakePublisher();
  const send = publisher.send.bind(publisher);
  publisher.send = async (url, messages) => {
    log.push(`send:${messages.length}`);
    return send(url, messages);
  };
  const reader = new ArrayPullReader(pages);
  const clock = new FakeClock();
  const audit = new InMemoryAuditLog();
  const metrics = new RecordingMetrics();
  const quarantine = new InMemoryQuarantineStore();
  const deps: PullDeps = {
    flow,
    source: flow.sources[0] as ScheduleSource,
    reader,
    state,
    publisher,
    transformQueueUrl: Q,
    quarantine,
    audit,
    clock,
    logger: new RecordingLogger(),
    metrics,
    remainingMs: () => 600_000,
    maskRecord: (r) => r,
    owner: 'test-invocation',
  };
  return { deps, log, state, publisher, reader, clock, audit, metrics, quarantine };
}

const person = (id: number, updatedAt: string, extra: Record<string, unknown> = {}) => ({ id, name: `p${id}`, updatedAt, ...extra });

describe('records the capture rejects', () => {
  it('are audited under their key, read where a rename moves it from', async () => {
    // Prepare: the API calls the key person_id; the flow renames it to id.
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[{ person_id: 7, updatedAt: 'soon' }, { person_id: 8, updatedAt: '2026-01-01T00:00:00Z' }]], { transform: { rename: { person_id: 'id' } } });

    // Act
    await runPull(t.deps);

    // Assess: the accepted record's capture entry is written by the transform, which knows its key.
    expect(t.audit.entries.map((e) => [e.outcome, e.key])).toEqual([['quarantined', '7'], ['captured', '']]);
  });

  it('include a number a double cannot hold, quarantined with its path and digits, and its key still counts as present', async () => {
    // Prepare: the reader parsed exactly, as the HTTP and S3 readers do (the digits past a double's 17 kept).
    const exact = parseJsonExact('{"id": 3, "name": "p3", "amount": 0.12345678901234567891}') as Record<string, unknown>;
    const ten = Array.from({ length: 10 }, (_, i) => person(i + 1, 'a'));
    const t = setup({}, [ten]);
    await runPull(t.deps);
    t.reader.pagesOf = [[...ten.slice(0, 2), exact, ...ten.slice(3)]];

    // Act
    const summary = await runPull(t.deps);

    // Assess: not sent rounded, and no delete inferred for key 3.
    expect(summary).toMatchObject({ complete: true, deletesInferred: 0 });
    expect(t.publisher.bodies<{ data?: Record<string, unknown> }>(Q).filter((b) => b.data && 'amount' in b.data)).toEqual([]);
    const [item] = (await t.quarantine.list('people')).items;
    expect(item!.reason).toMatch(/^record cannot be carried exactly: number at \$\.amount /);
    expect(item!.record).toMatchObject({ amount: { text: '0.12345678901234567891' } });
  });

  it('include a cursor past 2^53, quarantined with its path and digits rather than as a cursor of the wrong type', async () => {
    // Prepare
    const t = setup({ mode: 'incremental', cursorField: 'seq' }, [[parseJsonExact('{"id": 1, "seq": 12345678901234567890}')]]);

    // Act
    await runPull(t.deps);

    // Assess
    expect((await t.quarantine.list('people')).items.map((q) => q.reason)).toEqual([expect.stringMatching(/^record cannot be carried exactly: number at \$\.seq /)]);
  });

  it('include a record nested thousands of levels deep, quarantined while the rest of its page goes on', async () => {
    // Prepare
    const deep = JSON.parse(`{"id": 2, "x": ${'['.repeat(3000)}1${']'.repeat(3000)}}`) as Record<string, unknown>;
    const t = setup({}, [[person(1, 'a'), deep, person(3, 'a')]]);

    // Act
    const summary = await runPull(t.deps);

    // Assess
    expect(summary).toMatchObject({ complete: true });
    expect(t.publisher.bodies<{ data: { id: number } }>(Q).map((b) => b.data.id).sort()).toEqual([1, 3]);
    expect((await t.quarantine.list('people')).items.map((q) => q.reason)).toEqual([expect.stringMatching(/nest/)]);
  });

  it('keep one quarantine item when each run reads them again', async () => {
    // Prepare: the rejected record is newer than the accepted one, so the mark stays before it.
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, '2026-01-01T00:00:00Z'), person(2, '2026-01-02T00:00:00Z', { id: undefined })]]);

    // Act
    await runPull(t.deps);
    await runPull(t.deps);

    // Assess
    expect(t.audit.entries.filter((e) => e.outcome === 'quarantined')).toHaveLength(2);
    expect((await t.quarantine.list('people')).items).toHaveLength(1);
  });
});

describe('incremental mode', () => {
  it('checkpoints the high-water mark only after the page was sent', async () => {
    // Prepare
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [
      [person(1, '2026-01-01T00:00:00Z'), person(2, '2026-01-03T00:00:00Z')],
      [person(3, '2026-01-02T00:00:00Z')],
    ]);
    // Act
    const summary = await runPull(t.deps);
    // Assess
    expect(summary).toMatchObject({ pages: 2, records: 3, changed: 3, complete: true, continued: false });
    expect(t.log).toEqual(['send:2', 'putRun:active:1', 'send:1', 'putRun:active:2', 'putRun:done:2']);
    const run = await t.state.getRun('people', 'api');
    expect(run?.since).toBe('2026-01-03T00:00:00Z');
    const bodies = t.publisher.bodies<{ ts: number; seq: string }>(Q);
    expect(bodies[0]).toMatchObject({ ts: Date.UTC(2026, 0, 1), seq: '2026-01-01T00:00:00Z' });
  });

  it('does not move the checkpoint when sending fails, and resends from the last checkpoint', async () => {
    // Prepare
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, '2026-01-01T00:00:00Z')], [person(2, '2026-01-02T00:00:00Z')]]);
    t.publisher.failWhen = (m) => JSON.parse(m.body).data.id === 2;
    // Act
    await expect(runPull(t.deps)).rejects.toThrow(/could not be sent/);
    // Assess: page 1 is checkpointed, page 2 is not, and the committed mark has not moved.
    let run = await t.state.getRun('people', 'api');
    expect(run).toMatchObject({ active: true, pages: 1, continuation: '1', since: undefined });
    expect(t.log.at(-1)).toBe('send:1');
    t.publisher.failWhen = undefined;
    const again = await runPull(t.deps);
    expect(again).toMatchObject({ pages: 1, complete: true });
    expect(t.reader.calls.at(-1)).toEqual({ continuation: '1', since: undefined });
    run = await t.state.getRun('people', 'api');
    expect(run?.since).toBe('2026-01-02T00:00:00Z');
  });

  it('skips records older than the committed mark and passes the mark to the reader', async () => {
    // Prepare
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, '2026-01-01T00:00:00Z'), person(2, '2026-01-05T00:00:00Z')]]);
    await runPull(t.deps);
    t.reader.pagesOf = [[person(1, '2026-01-01T00:00:00Z'), person(2, '2026-01-05T00:00:00Z'), person(3, '2026-01-06T00:00:00Z')]];
    // Act
    const second = await runPull(t.deps);
    // Assess: 2 is re-sent (equal to the mark: same event id), 1 is skipped
    expect(second).toMatchObject({ records: 3, changed: 2 });
    expect(t.reader.calls.at(-1)?.since).toBe('2026-01-05T00:00:00Z');
    expect(second.deletesSkipped).toMatch(/incremental/);
  });
});

describe('incremental mode and changes made while a run pages', () => {
  it('does not raise the mark past the time the run started: a record changed meanwhile on a page already read comes next run', async () => {
    // Prepare: the run starts at 12:00 (the clock). The API lists by creation, so ticket 1, changed at 12:01 after
    // page 1 was read, is missed; ticket 2 on page 2 shows 12:02. A mark of 12:02 would never read ticket 1 again.
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, '2026-01-15T09:00:00Z')], [person(2, '2026-01-15T12:02:00Z')]]);

    // Act
    const first = await runPull(t.deps);
    const mark = (await t.state.getRun('people', 'api'))?.since;
    t.clock.advance(10 * 60_000);
    t.reader.pagesOf = [[person(1, '2026-01-15T12:01:00Z')], [person(2, '2026-01-15T12:02:00Z')]];
    const second = await runPull(t.deps);

    // Assess: both records are sent by the first run; its mark stays at the newest time before it started.
    expect(first).toMatchObject({ records: 2, changed: 2, complete: true });
    expect(mark).toBe('2026-01-15T09:00:00Z');
    expect(t.reader.calls.at(-1)?.since).toBe('2026-01-15T09:00:00Z');
    expect(second).toMatchObject({ records: 2, changed: 2 });
    expect(t.publisher.bodies<{ data: { id: number; updatedAt: string } }>(Q).at(-2)!.data).toMatchObject({ id: 1, updatedAt: '2026-01-15T12:01:00Z' });
    // The second run started at 12:10, after both: the mark moves on.
    expect((await t.state.getRun('people', 'api'))?.since).toBe('2026-01-15T12:02:00Z');
  });

  it('cursorLookback re-reads that far before the mark: a record the search index showed late is not skipped', async () => {
    // Prepare: issue 7 changed at 09:58 but was not yet searchable when the run read issue 8 (10:00).
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt', cursorLookback: '5 minutes' }, [[person(8, '2026-01-15T10:00:00Z')]]);
    await runPull(t.deps);
    t.reader.pagesOf = [[person(6, '2026-01-15T09:50:00Z'), person(7, '2026-01-15T09:58:00Z'), person(8, '2026-01-15T10:00:00Z')]];

    // Act
    const second = await runPull(t.deps);

    // Assess: 7 is within 5 minutes of the mark and sent; 6 is older and skipped. The committed mark is unchanged.
    expect(second).toMatchObject({ records: 3, changed: 2 });
    expect(t.publisher.bodies<{ data: { id: number } }>(Q).slice(-2).map((b) => b.data.id)).toEqual([7, 8]);
    expect((await t.state.getRun('people', 'api'))?.since).toBe('2026-01-15T10:00:00Z');
  });

  it('caps the mark only at cursors that read as times near the start: a sequence or epoch micros still move it, and it never goes back', async () => {
    // Prepare: the run starts 2026-01-15T12:00Z. Epoch micros and a large sequence are no times a clock could give.
    const micros = String(Date.UTC(2026, 0, 15, 13) * 1000);
    const t = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, micros)]]);
    await runPull(t.deps);
    const afterMicros = (await t.state.getRun('people', 'api'))?.since;
    const ms = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, String(Date.UTC(2026, 0, 15, 11))), person(2, String(Date.UTC(2026, 0, 15, 12, 30)))]]);
    await runPull(ms.deps);
    const afterMs = (await ms.state.getRun('people', 'api'))?.since;
    // A lookback reads a record below the mark; the committed mark stays where it was.
    const back = setup({ mode: 'incremental', cursorField: 'updatedAt', cursorLookback: '1 hour' }, [[person(1, '2026-01-15T10:00:00Z')]]);
    await runPull(back.deps);
    back.reader.pagesOf = [[person(3, '2026-01-15T09:30:00Z')]];
    await runPull(back.deps);

    // A sentinel date far ahead is sent but never becomes the mark: a change at 11:00 is read by the next run.
    const sentinel = setup({ mode: 'incremental', cursorField: 'updatedAt' }, [[person(1, '2026-01-15T09:30:00Z'), person(2, '2099-12-31T00:00:00Z')]]);
    await runPull(sentinel.deps);
    const afterSentinel = (await sentinel.state.getRun('people', 'api'))?.since;

    // Assess
    expect(afterSentinel).toBe('2026-01-15T09:30:00Z');
    expect(afterMicros).toBe(micros);
    expect(afterMs).toBe(String(Date.UTC(2026, 0, 15, 11)));
    expect(back.publisher.bodies<{ data: { id: number } }>(Q).map((b) => b.data.id)).toEqual([1, 3]);
    expect((await back.state.getRun('people', 'api'))?.since).toBe('2026-01-15T10:00:00Z');
  });

  it('refuses cursorLookback outside incremental mode, naming its path', () => {
    const parsed = flowSchema.safeParse({ id: 'people', key: ['id'], sources: [{ id: 'api', type: 'schedule', every: '5 minutes', http: { url: 'https://api.test/p' }, cursorLookback: '5 minutes' }], targets: [{ id: 'r', type: 'dynamodb' }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join('.'), i.message])).toContainEqual(['sources.0.cursorLookback', 'cursorLookback goes back from the high-water mark: it needs mode "incremental"']);
  });
});

describe('full mode', () => {
  it('emits only changed records; an unchanged record keeps its event id', async () => {
    // Prepare
    const t = setup({}, [[person(1, 'a'), person(2, 'a')]]);
    const first = await runPull(t.deps);
    const firstIds = t.publisher.bodies<{ id: string }>(Q).map((b) => b.id);
    t.reader.pagesOf = [[person(1, 'a'), person(2, 'b')]];
    // Act
    const second = await runPull(t.deps);
    // Assess
    expect(first).toMatchObject({ changed: 2, deletesInferred: 0 });
    expect(second).toMatchObject({ records: 2, changed: 1 });
    const all = t.publisher.bodies<{ id: string; data: { id: number } }>(Q);
    expect(all[2]!.data.id).toBe(2);
    expect(all[2]!.id).not.toBe(firstIds[1]);
    // Hash writes follow the send that carried them.
    expect(t.log.indexOf('putKeys:1')).toBeGreaterThan(t.log.lastIndexOf('send:1'));
  });

  it('infers deletes for keys absent from a complete pull, within maxDeleteRatio', async () => {
    // Prepare: 10 known keys, then 2 disappear (20% = the default limit)
    const ten = Array.from({ length: 10 }, (_, i) => person(i + 1, 'a'));
    const t = setup({}, [ten.slice(0, 5), ten.slice(5)]);
    await runPull(t.deps);
    t.reader.pagesOf = [ten.slice(0, 4), ten.slice(5, 9)];
    // Act
    const summary = await runPull(t.deps);
    // Assess
    expect(summary).toMatchObject({ complete: true, changed: 0, deletesInferred: 2 });
    const deletes = t.publisher.bodies<{ op: string; data: unknown; key: string }>(Q).filter((b) => b.op === 'delete');
    expect(deletes.map((d) => d.data)).toEqual([{ id: 5 }, { id: 10 }]);
    expect(t.state.keyCount('people', 'api')).toBe(8);
    expect(t.metrics.counts.DeletesInferred).toBe(2);
    // A third pull with the same content deletes nothing more
    expect(await runPull(t.deps)).toMatchObject({ deletesInferred: 0 });
  });

  it('refuses deletes above maxDeleteRatio with a metric and an audit entry, and keeps the keys', async () => {
    // Prepare
    const t = setup({ deletes: { enabled: true, maxDeleteRatio: 0.25 } }, [[person(1, 'a'), person(2, 'a'), person(3, 'a'), person(4, 'a')]]);
    await runPull(t.deps);
    t.reader.pagesOf = [[person(1, 'a'), person(2, 'a')]];
    // Act
    const refused = await runPull(t.deps);
    // Assess
    expect(refused).toMatchObject({ deletesInferred: 0, deletesRefused: 2, complete: true });
    expect(t.metrics.counts.DeleteInferenceRefused).toBe(1);
    expect(t.audit.entries.find((e) => e.key === '~pull/api')).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('2 of 4 known keys (50.0%)') });
    expect(t.publisher.bodies<{ op: string }>(Q).some((b) => b.op === 'delete')).toBe(false);
    // The absent keys stay known: the next pull refuses again, and an operator's override deletes them.
    expect(await runPull(t.deps)).toMatchObject({ deletesRefused: 2 });
    expect(await runPull(t.deps, { acceptDeletes: true })).toMatchObject({ deletesInferred: 2 });
  });

  it('skips delete inference when the pull failed part-way, and abandons the run after repeated failures', async () => {
    // Prepare
    const t = setup({ deletes: { enabled: true, maxDeleteRatio: 0.5 } }, [[person(1, 'a'), person(2, 'a')], [person(3, 'a')]]);
    await runPull(t.deps);
    t.reader.pagesOf = [[person(1, 'a')], [person(3, 'a')]];
    t.reader.failAt = 1;
    // Act
    const first = await runPull(t.deps);
    const second = await runPull(t.deps);
    const third = await runPull(t.deps);
    // Assess
    expect(first).toMatchObject({ complete: false, continued: true, error: 'HTTP 500 on page 2', deletesInferred: 0 });
    expect(second).toMatchObject({ complete: false, continued: true });
    expect(third).toMatchObject({ complete: false, continued: false, deletesInferred: 0, deletesSkipped: expect.stringMatching(/^partial pull: abandoned after 3 failed attempts/) });
    expect(t.metrics.counts.PullFailed).toBe(3);
    // Once the source recovers, a complete pull infers the delete of 2.
    t.reader.failAt = undefined;
    expect(await runPull(t.deps)).toMatchObject({ complete: true, deletesInferred: 1 });
  });

  it('ends the run at once as partial, without delete inference, when the reader stops it (runaway guard)', async () => {
    // Prepare
    const t = setup({ deletes: { enabled: true, maxDeleteRatio: 1 } }, [[person(1, 'a'), person(2, 'a')], [person(3, 'a')]]);
    await runPull(t.deps);
    t.reader.pagesOf = [[person(1, 'a')], [person(3, 'a')]];
    const pages = t.reader.pages.bind(t.reader);
    t.reader.pages = async function* (options) {
      let n = 0;
      for await (const page of pages(options)) {
        if (++n === 2) throw new RunStopError('runaway guard: page 2 repeats the items of page 1');
        yield page;
      }
    };
    // Act
    const stopped = await runPull(t.deps);
    // Assess
    expect(stopped).toMatchObject({
      complete: false,
      continued: false,
      deletesInferred: 0,
      error: 'runaway guard: page 2 repeats the items of page 1',
      deletesSkipped: 'partial pull: runaway guard: page 2 repeats the items of page 1',
    });
    expect(t.publisher.bodies<{ op: string }>(Q).some((b) => b.op === 'delete')).toBe(false);
    expect((await t.state.getRun('people', 'api'))?.active).toBe(false);
  });

  it('stops at the deadline, checkpoints and continues where it stopped', async () => {
    // Prepare
    const t = setup({}, [[person(1, 'a')], [person(2, 'a')], [person(3, 'a')]]);
    let left = 3;
    t.deps = { ...t.deps, remainingMs: () => (left-- > 1 ? 600_000 : 10_000) };
    // Act
    const first = await runPull(t.deps);
    const second = await runPull({ ...t.deps, remainingMs: () => 600_000 });
    // Assess
    expect(first).toMatchObject({ pages: 2, complete: false, continued: true });
    expect(second).toMatchObject({ pages: 1, complete: true, continued: false, run: { pages: 3, records: 3, invocations: 2 } });
    expect(t.reader.served).toEqual([0, 1, 2]);
  });

  it('completes when the reader ends even though its last page carried a continuation', async () => {
    const t = setup({}, []);
    t.deps = { ...t.deps, reader: { async *pages() { yield { items: [{ record: person(1, 'a'), position: 'x line 1' }], next: '{"key":"x","n":1}', label: 'x' }; } } };
    expect(await runPull(t.deps)).toMatchObject({ complete: true, continued: false, changed: 1 });
    expect((await t.state.getRun('people', 'api'))?.active).toBe(false);
  });

  describe('keeps no per-key item that no key list names', () => {
    const ten = Array.from({ length: 10 }, (_, i) => person(i + 1, 'a'));

    it('when deletes are disabled', async () => {
      const t = setup({ deletes: { enabled: false } }, [ten]);
      await runPull(t.deps);
      t.reader.pagesOf = [ten.slice(0, 7)];
      expect(await runPull(t.deps)).toMatchObject({ deletesInferred: 0, deletesSkipped: 'delete detection is disabled' });
      expect(t.state.keyCount('people', 'api')).toBe(7);
    });

    it('but keeps the items of keys a partial run did not reach, with deletes disabled too', async () => {
      // Prepare: two pages; then a run whose second page fails for good.
      const t = setup({ deletes: { enabled: false } }, [ten.slice(0, 5), ten.slice(5)]);
      await runPull(t.deps);
      t.reader.failAt = 1;
      expect(await runPull({ ...t.deps, maxFailures: 1 })).toMatchObject({ complete: false, continued: false });
      t.reader.failAt = undefined;

      // Act
      const again = await runPull(t.deps);

      // Assess: nothing changed at the source, so nothing is sent again.
      expect(t.state.keyCount('people', 'api')).toBe(10);
      expect(again).toMatchObject({ complete: true, changed: 0 });
    });

    it('when refused lists leave the capped known set', async () => {
      // Prepare: a complete run of ten, then partial-looking runs the ratio guard refuses, each with other keys.
      const t = setup({}, [ten]);
      await runPull(t.deps);
      for (const n of [11, 12, 13, 14]) {
        t.reader.pagesOf = [[person(n, 'a')]];
        expect(await runPull(t.deps)).toMatchObject({ deletesRefused: expect.any(Number) });
      }
      // Assess: the list of 11 left the set (the last accepted one and the newest three stay), and with it 11's item.
      expect((await t.state.getRun('people', 'api'))!.known).toHaveLength(4);
      expect(t.state.keyCount('people', 'api')).toBe(13);
    });

    it('when an active run is restarted', async () => {
      // Prepare: a run stops after its first page, with a key no complete run saw.
      const t = setup({}, [[person(1, 'a')], [person(2, 'a')]]);
      await runPull(t.deps);
      t.reader.pagesOf = [[person(1, 'a'), person(3, 'a')], [person(2, 'a')]];
      expect(await runPull({ ...t.deps, remainingMs: () => 10_000 })).toMatchObject({ continued: true });
      t.reader.pagesOf = [[person(1, 'a')], [person(2, 'a')]];
      // Act
      expect(await runPull(t.deps, { restart: true })).toMatchObject({ complete: true });
      // Assess
      expect(t.state.keyCount('people', 'api')).toBe(2);
    });
  });

  it('starts a run over when the mode changed while it was active (incremental pages record no keys)', async () => {
    // Prepare: a complete full run of a and b; then an incremental run stops after its first page.
    const t = setup({}, [[person(1, '2026-01-01T00:00:00Z'), person(2, '2026-01-01T00:00:00Z')]]);
    await runPull(t.deps);
    const incremental = { ...t.deps.source, mode: 'incremental', cursorField: 'updatedAt' } as ScheduleSource;
    t.reader.pagesOf = [[person(1, '2026-01-01T00:00:00Z')], [person(2, '2026-01-01T00:00:00Z')]];
    expect(await runPull({ ...t.deps, source: incremental, remainingMs: () => 10_000 })).toMatchObject({ continued: true });

    // Act: full mode again, the run is continued.
    const summary = await runPull(t.deps);

    // Assess: it read from the first page, so 1 is not taken for deleted.
    expect(summary).toMatchObject({ complete: true, deletesInferred: 0 });
    expect(t.reader.served).toEqual([0, 0, 0, 1]);
  });

  it('answers busy while another invocation holds the lease', async () => {
    const t = setup({}, [[person(1, 'a')]]);
    await t.state.acquireLease('people', 'api', 'someone-else', t.clock.now() + 60_000, t.clock.now());
    expect(await runPull(t.deps)).toMatchObject({ busy: true, pages: 0 });
  });
});

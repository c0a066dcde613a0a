import { createDecipheriv, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../../functions/config/schema';
import { pullKeysSealed } from '../../../../functions/core/pull/pull-keys';
import { maskValue } from '../../../../functions/core/transform/mask';
import { runPull, type PullDeps } from '../../../../functions/core/pull/pull-run';
import type { ScheduleSource } from '../../../../functions/core/pull/records';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryQuarantineStore, RecordingLogger, RecordingMetrics } from '../../../fixtures/fakes';
import { ArrayPullReader, InMemoryPullStateStore } from '../../../fixtures/pull-fakes';

const Q = 'https://sqs.test/transform';
const HASH_KEY = 'k'.repeat(64);

function flowOf(transform: Record<string, unknown>, source: Record<string, unknown> = {}, key = ['email']) {
  return flowSchema.parse({
    id: 'people',
    key,
    sources: [{ id: 'api', type: 'schedule', every: '5 minutes', http: { url: 'https://api.test/people' }, ...source }],
    transform,
    targets: [{ id: 'replica', type: 'dynamodb' }],
  });
}

function setup(transform: Record<string, unknown>, pages: unknown[][]) {
  const flow = flowOf(transform);
  const state = new InMemoryPullStateStore();
  const publisher = new FakePublisher();
  const reader = new ArrayPullReader(pages);
  const deps = (t: Record<string, unknown>): PullDeps => {
    const f = flowOf(t);
    return {
      flow: f,
      source: f.sources[0] as ScheduleSource,
      reader,
      state,
      publisher,
      transformQueueUrl: Q,
      quarantine: new InMemoryQuarantineStore(),
      audit: new InMemoryAuditLog(),
      clock: new FakeClock(),
      logger: new RecordingLogger(),
      metrics: new RecordingMetrics(),
      remainingMs: () => 600_000,
      maskRecord: (r) => r,
      owner: 'test-invocation',
      hashKey: async () => HASH_KEY,
    };
  };
  return { flow, state, publisher, reader, deps };
}

/** Everything the pull keeps in its state, as one text to search. */
const stateText = (s: InMemoryPullStateStore) => JSON.stringify({ runs: [...s.runs], keys: [...s.keys], seen: [...s.seen] });

const people = (...names: string[]) => names.map((n) => ({ email: `${n}@example.com`, name: n }));
const MASKED = { mask: { email: 'hash' } };

describe('pullKeysSealed', () => {
  it('seals when the transform masks a key field, under either name of a rename, or may mask any value', () => {
    const sealed = (transform: Record<string, unknown>, source: Record<string, unknown> = {}, key?: string[]) => {
      const f = flowOf(transform, source, key);
      return pullKeysSealed(f, f.sources[0] as ScheduleSource);
    };
    expect(sealed(MASKED)).toBe(true);
    expect(sealed({ rename: { email_address: 'email' }, mask: { email: 'hash' } })).toBe(true);
    expect(sealed({ mask: { contact: 'hash' } }, {}, ['contact.email'])).toBe(true);
    expect(sealed({ detectPii: 'mask' })).toBe(true);
    // The pull's own keyFields, masked while the flow key is not.
    expect(sealed({ mask: { email: 'hash' } }, { keyFields: ['email'] }, ['id'])).toBe(true);
    // Not sealed: a mask elsewhere, detection that only flags, incremental mode (it keeps no keys).
    expect(sealed({ mask: { phone: 'last4' } })).toBe(false);
    expect(sealed({ detectPii: 'flag' })).toBe(false);
    expect(sealed(MASKED, { mode: 'incremental', cursorField: 'updatedAt' })).toBe(false);
  });

  it('reads a masked key through a rename of the object that holds it', async () => {
    // Prepare: the API sends person.email; the flow renames person to contact and masks contact.email.
    const transform = { rename: { person: 'contact' }, mask: { 'contact.email': 'hash' } };
    const f = flowOf(transform, {}, ['contact.email']);
    const t = setup(transform, [[{ person: { email: 'ann@example.com' } }]]);

    // Act
    const summary = await runPull({ ...t.deps(transform), flow: f, source: f.sources[0] as ScheduleSource });

    // Assess
    expect(summary).toMatchObject({ changed: 1, quarantined: 0 });
    expect(pullKeysSealed(f, f.sources[0] as ScheduleSource)).toBe(true);
  });
});

describe('a full pull of a flow that masks its key', () => {
  it('keeps no key as read in its state, sends only changes, and still infers deletes with the key fields', async () => {
    // Prepare
    const t = setup(MASKED, [people('ann', 'bob', 'cy', 'dee', 'eve', 'fay')]);
    const deps = t.deps(MASKED);

    // Act: a first pull, then one where bob is gone and cy changed.
    await runPull(deps);
    t.reader.pagesOf = [[...people('ann', 'dee', 'eve', 'fay'), { email: 'cy@example.com', name: 'Cy' }]];
    const second = await runPull(deps);

    // Assess
    expect(stateText(t.state)).not.toMatch(/@example\.com|"(ann|bob|cy|dee|eve|fay)"/);
    expect(t.state.keyCount('people', 'api')).toBe(5);
    expect(second).toMatchObject({ changed: 1, deletesInferred: 1 });
    const sent = t.publisher.bodies<{ op: string; data: Record<string, unknown> }>(Q).slice(6);
    expect(sent.map((b) => [b.op, b.data])).toEqual([
      ['upsert', { email: 'cy@example.com', name: 'Cy' }],
      ['delete', { email: 'bob@example.com' }],
    ]);
  });

  it('keeps its keys apart from what a hash mask shows: no masked constant opens the key fields', async () => {
    // Prepare
    const t = setup(MASKED, [people('ann')]);
    await runPull(t.deps(MASKED));
    const [entry] = [...t.state.keys.values()];
    const sealed = Buffer.from(entry!.sealed!, 'base64url');
    const opens = (key: Buffer) => {
      try {
        const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
        d.setAuthTag(sealed.subarray(12, 28));
        return Buffer.concat([d.update(sealed.subarray(28)), d.final()]).toString();
      } catch {
        return undefined;
      }
    };
    // What a target shows of a hash-masked field holding a constant, as a key.
    const fromMask = (text: string) => Buffer.from(String(maskValue('hash', text, HASH_KEY)).slice(5), 'hex');

    // Assess: the key fields open with the derived key only; no HMAC of the hash key over a likely constant opens them.
    for (const constant of ['syncline pull key data', 'syncline pull state', 'syncline/pull/aes/v1', 'aes', '']) {
      expect(opens(fromMask(constant))).toBeUndefined();
      expect(opens(createHmac('sha256', HASH_KEY).update(constant).digest())).toBeUndefined();
    }
    expect([...t.state.keys.keys()][0]).not.toContain(String(maskValue('hash', 'ann@example.com', HASH_KEY)));
  });

  it('keeps a continuation the API builds from the last key sealed in its run state', async () => {
    // Prepare: keyset pagination, the cursor is the last e-mail of the page.
    const t = setup(MASKED, []);
    const pages = [people('ann', 'bob'), people('cy')];
    const deps = t.deps(MASKED);
    const calls: (string | undefined)[] = [];
    const reader = {
      async *pages(options: { continuation?: string }) {
        calls.push(options.continuation);
        const start = options.continuation === undefined ? 0 : 1;
        for (let i = start; i < pages.length; i++) {
          yield { items: pages[i]!.map((record, j) => ({ record, position: `page ${i + 1} item ${j + 1}` })), next: i + 1 < pages.length ? 'bob@example.com' : undefined, label: `page ${i + 1}` };
        }
      },
    };

    // Act: the first invocation stops after a page; the next continues.
    const first = await runPull({ ...deps, reader, remainingMs: () => 10_000 });
    const between = stateText(t.state);
    const second = await runPull({ ...deps, reader });

    // Assess
    expect(first).toMatchObject({ continued: true, changed: 2 });
    expect(between).not.toMatch(/@example\.com/);
    expect(calls).toEqual([undefined, 'bob@example.com']);
    expect(second).toMatchObject({ complete: true, changed: 1 });
  });

  it('refuses to run without the hash key', async () => {
    const t = setup(MASKED, [people('ann')]);
    await expect(runPull({ ...t.deps(MASKED), hashKey: undefined })).rejects.toThrow(/needs the hash key/);
  });
});

describe('state written under the other key form', () => {
  it('is dropped when a flow starts masking its key, and deletes are inferred again after one complete run', async () => {
    // Prepare: state of a pull from before the mask (or before sealing existed).
    const t = setup({}, [people('ann', 'bob', 'cy', 'dee', 'eve', 'fay')]);
    await runPull(t.deps({}));
    expect(stateText(t.state)).toMatch(/ann@example\.com/);

    // Act: the mask is added; bob is gone at once, and eve after the next run.
    t.reader.pagesOf = [people('ann', 'cy', 'dee', 'eve', 'fay')];
    const first = await runPull(t.deps(MASKED));
    const afterFirst = stateText(t.state);
    t.reader.pagesOf = [people('ann', 'cy', 'dee', 'fay')];
    const second = await runPull(t.deps(MASKED));

    // Assess: nothing of the raw state is left; the first run compared nothing; the second inferred eve's delete.
    expect(afterFirst).not.toMatch(/@example\.com/);
    expect(first).toMatchObject({ complete: true, changed: 5, deletesInferred: 0 });
    expect(second).toMatchObject({ changed: 0, deletesInferred: 1 });
    expect(t.state.keyCount('people', 'api')).toBe(4);
    expect(t.state.seen.size).toBe(1);
  });

  it('is dropped, with the items of keys no list names, whatever state the raw pull left', async () => {
    // Prepare: deletes disabled, so items of absent keys stayed; then a run stopped midway with a new key.
    const t = setup({}, [people('ann', 'bob', 'cy')]);
    const raw = { ...t.deps({}), source: { ...(t.deps({}).source), deletes: { enabled: false } } as ScheduleSource };
    await runPull(raw);
    t.reader.pagesOf = [people('ann'), people('dee')];
    await runPull(raw);
    t.reader.pagesOf = [people('ann', 'eve'), people('dee')];
    expect(await runPull({ ...raw, remainingMs: () => 10_000 })).toMatchObject({ continued: true });

    // Act
    await runPull(t.deps(MASKED));

    // Assess
    expect(stateText(t.state)).not.toMatch(/@example\.com/);
  });

  it('is dropped a list at a time, and continued by the next invocation when time runs short', async () => {
    // Prepare: raw state with two key lists (a refused run keeps the last accepted one beside its own).
    const t = setup({}, [people('ann', 'bob', 'cy', 'dee', 'eve')]);
    await runPull(t.deps({}));
    t.reader.pagesOf = [people('ann')];
    expect(await runPull(t.deps({}))).toMatchObject({ deletesRefused: 4 });
    t.reader.pagesOf = [people('ann', 'bob', 'cy', 'dee', 'eve')];
    let left = 2;
    const short = { ...t.deps(MASKED), remainingMs: () => (left-- > 0 ? 600_000 : 10_000) };

    // Act
    const first = await runPull(short);
    const afterFirst = (await t.state.getRun('people', 'api'))!;
    const second = await runPull(t.deps(MASKED));

    // Assess
    expect(first).toMatchObject({ continued: true, pages: 0 });
    expect(afterFirst.settling).toHaveLength(1);
    expect(second).toMatchObject({ complete: true, changed: 5, deletesInferred: 0 });
    expect(stateText(t.state)).not.toMatch(/@example\.com/);
  });

  it('is dropped a chunk at a time, and a list begun is finished even when the form changes back meanwhile', async () => {
    // Prepare: a raw run of three pages (a key chunk each), then a sealed invocation with time for one chunk.
    const t = setup({}, [people('ann'), people('bob'), people('cy')]);
    await runPull(t.deps({}));
    let left = 2; // the lease, then one chunk
    const short = { ...t.deps(MASKED), remainingMs: () => (left-- > 0 ? 600_000 : 10_000) };
    expect(await runPull(short)).toMatchObject({ continued: true, pages: 0 });
    expect((await t.state.getRun('people', 'api'))!.settling).toEqual([expect.objectContaining({ chunks: 3, from: 1 })]);

    // Act: the mask is taken out again before the next invocation.
    const summary = await runPull(t.deps({}));

    // Assess: the rest of the list went, and the raw run that followed made a known set of its own.
    expect(summary).toMatchObject({ complete: true, changed: 3, deletesInferred: 0 });
    expect(t.state.seen.size).toBe(3);
    expect(t.state.keyCount('people', 'api')).toBe(3);
    expect((await t.state.getRun('people', 'api'))!.settling).toBeUndefined();
  });

  it('a damaged sealed continuation restarts the reading instead of failing every invocation', async () => {
    // Prepare: a sealed run stopped after a page; its stored continuation is then damaged.
    const t = setup(MASKED, [people('ann'), people('bob')]);
    expect(await runPull({ ...t.deps(MASKED), remainingMs: () => 10_000 })).toMatchObject({ continued: true });
    const run = (await t.state.getRun('people', 'api'))!;
    await t.state.putRun({ ...run, continuation: `${run.continuation!.slice(0, -4)}AAAA` });

    // Act
    const summary = await runPull(t.deps(MASKED));

    // Assess
    expect(summary).toMatchObject({ complete: true, continued: false });
    expect(t.reader.served).toEqual([0, 0, 1]);
  });

  it('written by a raw writer into a sealed run (a rollback) is not compared, sent or kept', async () => {
    // Prepare: a sealed run; then a release that does not seal ran under the same label, with a raw key list and items.
    const t = setup(MASKED, [people('ann', 'bob')]);
    await runPull(t.deps(MASKED));
    const emails = people('ann', 'bob', 'cy').map((p) => p.email);
    await t.state.appendSeen('people', 'api', 'old', 0, emails);
    await t.state.putKeys('people', 'api', emails.map((e) => ({ key: e, hash: 'h', keyData: { email: e } })));
    await t.state.putRun({ ...(await t.state.getRun('people', 'api'))!, known: [{ runId: 'old', chunks: 1 }] });
    t.reader.pagesOf = [people('ann', 'bob')];

    // Act
    const summary = await runPull(t.deps(MASKED));

    // Assess: no delete (cy's raw id is not compared), none without its key fields, and no raw key left.
    expect(summary).toMatchObject({ deletesInferred: 0 });
    expect(summary.deletesRefused).toBeUndefined();
    expect(t.publisher.bodies<{ op: string }>(Q).filter((b) => b.op === 'delete')).toEqual([]);
    expect(stateText(t.state)).not.toMatch(/@example\.com/);
  });

  it('is dropped when the hash key is replaced, so no entry is opened with the wrong key', async () => {
    // Prepare
    const t = setup(MASKED, [people('ann', 'bob')]);
    await runPull(t.deps(MASKED));
    t.reader.pagesOf = [people('ann')];

    // Act: bob is gone, and would be a delete if the old entries could be opened.
    const summary = await runPull({ ...t.deps(MASKED), hashKey: async () => 'n'.repeat(64) });

    // Assess
    expect(summary).toMatchObject({ deletesInferred: 0, changed: 1, complete: true });
    expect(t.state.keyCount('people', 'api')).toBe(1);
  });

  it('is dropped when a flow stops masking its key, so no sealed key is compared with a raw one', async () => {
    // Prepare
    const t = setup(MASKED, [people('ann', 'bob')]);
    await runPull(t.deps(MASKED));

    // Act
    const summary = await runPull(t.deps({}));

    // Assess: no delete inferred from comparing two forms, and only raw keys remain.
    expect(summary).toMatchObject({ deletesInferred: 0, changed: 2 });
    expect([...t.state.keys.keys()].some((k) => k.includes('hmac:'))).toBe(false);
    expect(t.state.keyCount('people', 'api')).toBe(2);
  });
});

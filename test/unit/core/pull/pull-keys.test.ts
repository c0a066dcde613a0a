import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../../functions/config/schema';
import { pullKeysSealed } from '../../../../functions/core/pull/pull-keys';
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

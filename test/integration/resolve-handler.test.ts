import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbStateStore, flowStateOptions } from '../../functions/adapters/dynamodb-state-store';
import { createResolveHandler } from '../../functions/handlers/resolve-handler';
import { VersionConflictError, type StateStore, type StoredState } from '../../functions/ports';
import { createQueue, createStoreTables, integrationClients, uniqueSuffix } from '../support/local-servers';
import { resolveEventOf, resolveStores, twoSourceFlow, upsertOf } from '../support/resolve-messages';
import { replayable, replayEnvelope } from '../../functions/handlers/quarantine-replay';
import { transformFingerprint } from '../../functions/core/transform/fingerprint';
import { STATE_TOO_LARGE } from '../../functions/handlers/resolve-oversized';

const flow = twoSourceFlow('it-resolve');

/** Lets the first `parties` reads through only together, so concurrent invocations all see the same version. */
function withReadBarrier(store: StateStore, parties: number): StateStore & { conflicts: number } {
  let waiting: (() => void)[] = [];
  let remaining = parties;
  const barrier = () =>
    remaining <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (--remaining === 0) {
            waiting.forEach((w) => w());
            waiting = [];
          }
        });
  const wrapped = {
    conflicts: 0,
    getMany: async (f: string, keys: readonly string[]) => {
      const got = await store.getMany(f, keys);
      await barrier();
      return got;
    },
    get: (f: string, key: string) => store.get(f, key),
    put: async (state: StoredState, expected: number) => {
      try {
        await store.put(state, expected);
      } catch (err) {
        if (err instanceof VersionConflictError) wrapped.conflicts++;
        throw err;
      }
    },
  };
  return wrapped;
}

/** About 293 KB of text that deflates to about 222 KB: each record alone fits a state item, two together do not. */
const bulky = () => randomBytes(220_000).toString('base64');

describe('resolve handler against DynamoDB Local', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  let tables: Awaited<ReturnType<typeof createStoreTables>>;
  let deliverQueue: { url: string; arn: string };

  beforeAll(async () => {
    tables = await createStoreTables(clients);
    deliverQueue = await createQueue(clients, `it-${uniqueSuffix()}-deliver`);
  });
  afterAll(() => clients.destroy());

  const envelope = (source: 'crm' | 'erp', key: string, data: Record<string, unknown>, ts: number) => upsertOf(flow.id, source, key, data, ts);
  const event = resolveEventOf;

  /** Both invocations succeeded, one per key lost the race on the version, and each key holds both changes. */
  async function expectBoth(answers: { batchItemFailures: unknown[] }[], raced: { conflicts: number }, base: StateStore, keys: string[], version: number) {
    for (const answer of answers) expect(answer.batchItemFailures).toEqual([]);
    expect(raced.conflicts).toBeGreaterThanOrEqual(keys.length);
    const states = await base.getMany(flow.id, keys);
    for (const k of keys) {
      const s = states.get(k)!;
      expect(s.view.data).toEqual({ id: k, name: `crm ${k}`, tier: 'gold' });
      expect(s.version).toBe(version);
    }
  }

  it('keeps both changes when two invocations merge the same keys at once (conditional writes, re-merge on conflict)', async () => {
    // Prepare
    const base = new DynamoDbStateStore({ client: doc, tableName: tables.state, ...flowStateOptions([flow]) });
    const stateStore = withReadBarrier(base, 2);
    const deps = { flow, stateStore, ...resolveStores(doc, clients.sqs, tables, deliverQueue.url) };
    const a = createResolveHandler(deps);
    const b = createResolveHandler(deps);
    const keys = Array.from({ length: 10 }, (_, i) => `k-${i}`);
    const t = Date.now();

    // Act: both read every key at version 0, then race to write.
    const [ra, rb] = await Promise.all([
      a(event(keys.map((k) => envelope('crm', k, { name: `crm ${k}` }, t)))),
      b(event(keys.map((k) => envelope('erp', k, { tier: 'gold' }, t + 1)))),
    ]);

    // Assess
    await expectBoth([ra, rb], stateStore, base, keys, 2);
  });

  it('keeps both changes when two invocations merge into existing states at once (the version condition, re-merge into the state read again)', async () => {
    // Prepare: every key at version 1 from a first change.
    const base = new DynamoDbStateStore({ client: doc, tableName: tables.state, ...flowStateOptions([flow]) });
    const deps = { flow, ...resolveStores(doc, clients.sqs, tables, deliverQueue.url) };
    const keys = Array.from({ length: 10 }, (_, i) => `v-${i}`);
    const t = Date.now();
    const first = await createResolveHandler({ ...deps, stateStore: base })(event(keys.map((k) => envelope('crm', k, { name: `first ${k}`, tier: 'basic' }, t))));
    expect(first.batchItemFailures).toEqual([]);
    const stateStore = withReadBarrier(base, 2);

    // Act: both read every key at version 1, then race to write; each changes another field.
    const [ra, rb] = await Promise.all([
      createResolveHandler({ ...deps, stateStore })(event(keys.map((k) => envelope('crm', k, { name: `crm ${k}` }, t + 1)))),
      createResolveHandler({ ...deps, stateStore })(event(keys.map((k) => envelope('erp', k, { tier: 'gold' }, t + 2)))),
    ]);

    // Assess: one of each pair lost the race on the version and merged again into what the other wrote.
    await expectBoth([ra, rb], stateStore, base, keys, 3);
  });

  describe('a merged record too large for its state item', () => {
    it('quarantines the change that would overflow it, with the sizes, keeps the state as it was, and lets its batch-mates through', async () => {
      // Prepare: the key holds one source's large field.
      const stateStore = new DynamoDbStateStore({ client: doc, tableName: tables.state, ...flowStateOptions([flow]) });
      const stores = resolveStores(doc, clients.sqs, tables, deliverQueue.url);
      const { audit, quarantine } = stores;
      const handler = createResolveHandler({ flow, stateStore, ...stores });
      const t = Date.now();
      const first = await handler(event([envelope('crm', 'big', { notes: bulky() }, t), envelope('crm', 'small', { name: 'a' }, t)]));
      expect(first.batchItemFailures).toEqual([]);

      // Act: the other source adds its own large field to that key, and a small change to another key.
      const overflow = envelope('erp', 'big', { attachment: bulky() }, t + 1);
      const answer = await handler(event([overflow, envelope('erp', 'small', { tier: 'gold' }, t + 1)]));

      // Assess: nothing is retried; the overflowing change is quarantined and audited, its batch-mate merged.
      expect(answer.batchItemFailures).toEqual([]);
      const states = await stateStore.getMany(flow.id, ['big', 'small']);
      expect(states.get('big')!.version).toBe(1);
      expect(Object.keys(states.get('big')!.view.data!).sort()).toEqual(['id', 'notes']);
      expect(states.get('small')!.view.data).toEqual({ id: 'small', name: 'a', tier: 'gold' });
      const [item] = await quarantine.get(flow.id, [overflow.id]);
      expect(item).toMatchObject({ source: 'erp', reason: STATE_TOO_LARGE, record: { id: 'big', attachment: overflow.data!.attachment } });
      expect(item!.errors[0]).toMatch(/would take \d+ bytes stored, more than the 409600 bytes/);
      expect(item!.envelope.lineage.at(-1)).toMatchObject({ step: 'resolve', outcome: 'quarantined' });
      // Kept with the transform that made the record, so a replay after a transform change skips it.
      expect(replayable(item!, transformFingerprint(flow))).toBe(true);
      expect(replayable(item!, transformFingerprint({ ...flow, transform: { ...flow.transform, exclude: ['attachment'] } }))).toBe(false);
      expect(replayable(item!, transformFingerprint({ ...flow, key: ['tenant', 'id'] }))).toBe(false);
      const lineage = await audit.lineage(flow.id, 'big');
      expect(lineage.find((e) => e.eventId === overflow.id)).toMatchObject({ step: 'resolve', outcome: 'quarantined', source: 'erp' });

      // Act again: the first source's field shrinks, and the quarantined change is replayed (to resolve).
      await handler(event([envelope('crm', 'big', { notes: 'short' }, t + 2)]));
      const replayed = await handler(event([replayEnvelope(item!, Date.now())]));

      // Assess: it merges now.
      expect(replayed.batchItemFailures).toEqual([]);
      expect((await stateStore.get(flow.id, 'big'))!.view.data).toEqual({ id: 'big', notes: 'short', attachment: overflow.data!.attachment });
    });

    it('sets aside only the change that does not fit when several changes of the key arrive in one batch', async () => {
      // Prepare
      const stateStore = new DynamoDbStateStore({ client: doc, tableName: tables.state, ...flowStateOptions([flow]) });
      const stores = resolveStores(doc, clients.sqs, tables, deliverQueue.url);
      const { quarantine } = stores;
      const handler = createResolveHandler({ flow, stateStore, ...stores });
      const t = Date.now();
      expect((await handler(event([envelope('crm', 'mixed', { notes: bulky() }, t)]))).batchItemFailures).toEqual([]);

      // Act: one batch with erp's large field and crm's small edit of the same key.
      const large = envelope('erp', 'mixed', { attachment: bulky() }, t + 1);
      const small = envelope('crm', 'mixed', { status: 'active' }, t + 2);
      const answer = await handler(event([large, small]));

      // Assess: the small edit merged; only the large one is quarantined.
      expect(answer.batchItemFailures).toEqual([]);
      const state = (await stateStore.get(flow.id, 'mixed'))!;
      expect(state.view.data).toMatchObject({ id: 'mixed', status: 'active' });
      expect(state.view.data).not.toHaveProperty('attachment');
      expect((await quarantine.get(flow.id, [large.id, small.id])).map((i) => i.id)).toEqual([large.id]);
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { DynamoDbStateStore, flowStateOptions } from '../../functions/adapters/dynamodb-state-store';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { createResolveHandler } from '../../functions/handlers/resolve-handler';
import { VersionConflictError, type StateStore, type StoredState } from '../../functions/ports';
import { parseConfig } from '../../lib/config/load';
import { createQueue, createStoreTables, integrationClients, uniqueSuffix } from '../support/local-servers';
import { resolveEventOf, upsertOf } from '../support/resolve-messages';

const flow = parseConfig({
  flows: [
    {
      id: 'it-resolve',
      key: ['id'],
      sources: [
        { id: 'crm', type: 'webhook' },
        { id: 'erp', type: 'webhook' },
      ],
      conflict: { strategy: 'field-lww' },
      targets: [{ id: 'replica', type: 'dynamodb' }],
    },
  ],
}).flows[0]!;

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
    markDelivered: store.markDelivered.bind(store),
  };
  return wrapped;
}

describe('resolve handler against DynamoDB Local: concurrent invocations on the same keys', () => {
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
    const deps = {
      flow,
      stateStore,
      audit: new DynamoDbAuditLog({ client: doc, tableName: tables.audit }),
      conflicts: new DynamoDbConflictStore({ client: doc, tableName: tables.conflicts }),
      quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: tables.quarantine }),
      publisher: new SqsPublisher({ client: clients.sqs }),
      deliverQueueUrls: { replica: deliverQueue.url },
    };
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
    const deps = {
      flow,
      audit: new DynamoDbAuditLog({ client: doc, tableName: tables.audit }),
      conflicts: new DynamoDbConflictStore({ client: doc, tableName: tables.conflicts }),
      quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: tables.quarantine }),
      publisher: new SqsPublisher({ client: clients.sqs }),
      deliverQueueUrls: { replica: deliverQueue.url },
    };
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
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { DynamoDbStateStore, flowStateOptions } from '../../functions/adapters/dynamodb-state-store';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { createResolveHandler } from '../../functions/handlers/resolve-handler';
import { replayable, replayEnvelope } from '../../functions/handlers/quarantine-replay';
import { transformFingerprint } from '../../functions/core/transform/fingerprint';
import { STATE_TOO_LARGE } from '../../functions/handlers/resolve-oversized';
import { parseConfig } from '../../lib/config/load';
import { createQueue, createStoreTables, integrationClients, uniqueSuffix } from '../support/local-servers';
import { resolveEventOf, upsertOf } from '../support/resolve-messages';

const flow = parseConfig({
  flows: [
    {
      id: 'it-oversized',
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

/** About 293 KB of text that deflates to about 222 KB: each record alone fits a state item, two together do not. */
const bulky = () => randomBytes(220_000).toString('base64');

describe('resolve handler against DynamoDB Local: a merged record too large for its state item', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  let tables: Awaited<ReturnType<typeof createStoreTables>>;
  let deliverQueue: { url: string };

  beforeAll(async () => {
    tables = await createStoreTables(clients);
    deliverQueue = await createQueue(clients, `it-${uniqueSuffix()}-deliver`);
  });
  afterAll(() => clients.destroy());

  const envelope = (source: 'crm' | 'erp', key: string, data: Record<string, unknown>, ts: number) => upsertOf(flow.id, source, key, data, ts);
  const event = resolveEventOf;

  it('quarantines the change that would overflow it, with the sizes, keeps the state as it was, and lets its batch-mates through', async () => {
    // Prepare: the key holds one source's large field.
    const stateStore = new DynamoDbStateStore({ client: doc, tableName: tables.state, ...flowStateOptions([flow]) });
    const audit = new DynamoDbAuditLog({ client: doc, tableName: tables.audit });
    const quarantine = new DynamoDbQuarantineStore({ client: doc, tableName: tables.quarantine });
    const handler = createResolveHandler({
      flow,
      stateStore,
      audit,
      conflicts: new DynamoDbConflictStore({ client: doc, tableName: tables.conflicts }),
      quarantine,
      publisher: new SqsPublisher({ client: clients.sqs }),
      deliverQueueUrls: { replica: deliverQueue.url },
    });
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
    expect(replayable(item!, transformFingerprint(flow.transform))).toBe(true);
    expect(replayable(item!, transformFingerprint({ ...flow.transform, exclude: ['attachment'] }))).toBe(false);
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
    const quarantine = new DynamoDbQuarantineStore({ client: doc, tableName: tables.quarantine });
    const handler = createResolveHandler({
      flow,
      stateStore,
      audit: new DynamoDbAuditLog({ client: doc, tableName: tables.audit }),
      conflicts: new DynamoDbConflictStore({ client: doc, tableName: tables.conflicts }),
      quarantine,
      publisher: new SqsPublisher({ client: clients.sqs }),
      deliverQueueUrls: { replica: deliverQueue.url },
    });
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

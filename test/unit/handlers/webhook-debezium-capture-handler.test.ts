import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../lib/config/schema';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { createWebhookCaptureHandler } from '../../../functions/handlers/webhook-capture-handler';
import { mysqlCreate, mysqlDelete, mysqlSnapshotOrders, mysqlUpdate, pgCreate, pgDelete, tombstone } from '../../fixtures/debezium';
import { FakeClock, FakePublisher, FakeSecrets, InMemoryAuditLog, InMemoryDedupStore, InMemoryQuarantineStore } from '../../fixtures/fakes';
import { WEBHOOK_SECRET } from '../../fixtures/flows';

const QUEUE = 'https://sqs.local/customers-transform';
const flow = flowSchema.parse({
  id: 'customers',
  key: ['id'],
  sources: [
    { id: 'mysql', type: 'webhook', format: 'debezium', table: { include: ['inventory.customers'] } },
    { id: 'pg', type: 'webhook', format: 'debezium', table: { include: ['public.*'] } },
  ],
  targets: [{ id: 'replica', type: 'dynamodb' }],
});

function setup() {
  const publisher = new FakePublisher();
  const audit = new InMemoryAuditLog();
  const quarantine = new InMemoryQuarantineStore();
  const clock = new FakeClock();
  const handler = createWebhookCaptureHandler({
    flow,
    secrets: new FakeSecrets({ s: WEBHOOK_SECRET }),
    webhookSecrets: { mysql: 's', pg: 's' },
    transformQueueUrl: QUEUE,
    publisher,
    dedup: new InMemoryDedupStore(clock),
    audit,
    quarantine,
    clock,
  });
  return { handler, publisher, audit, quarantine, clock };
}

function request(sourceId: string, body: unknown, id = 'msg_1'): APIGatewayProxyEventV2 {
  const raw = JSON.stringify(body);
  const at = new Date();
  const path = `/webhooks/customers/${sourceId}`;
  return {
    rawPath: path,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(WEBHOOK_SECRET).sign(id, at, raw),
    },
    requestContext: { http: { method: 'POST', path } },
    body: raw,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

const json = (res: { body?: string }) => JSON.parse(res.body ?? '{}') as Record<string, unknown>;

describe('webhook capture of Debezium change events', () => {
  it('captures MySQL events: op, before/after, ts from source.ts_ms, seq from the binlog position; other tables and tombstones are skipped', async () => {
    // Prepare
    const { handler, publisher, audit } = setup();
    // Act
    const res = await handler(request('mysql', [mysqlCreate, mysqlUpdate, mysqlDelete, tombstone, mysqlSnapshotOrders]));
    // Assess
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 3, duplicates: 0, quarantined: 0 });
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.op, e.data?.first_name ?? null, e.ts])).toEqual([
      ['upsert', 'Anne', 1465491411000],
      ['upsert', 'Anne Marie', 1465581029100],
      ['delete', 'Anne Marie', 1465581902300],
    ]);
    expect(sent[1]!.before).toEqual(mysqlUpdate.payload.before);
    expect(sent.map((e) => e.seq)).toEqual([...sent.map((e) => e.seq)].sort());
    expect(sent[0]!.seq).toMatch(/^binlog:mysql-bin\.0+3:0+154:0+$/);
    expect(audit.entries.map((e) => [e.outcome, e.key])).toEqual([
      ['captured', '1004'],
      ['captured', '1004'],
      ['captured', '1004'],
    ]);
  });

  it('captures a single PostgreSQL event in the schema/payload wrapper and keys a delete by before', async () => {
    const { handler, publisher } = setup();
    expect(json(await handler(request('pg', pgCreate, 'msg_a')))).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(json(await handler(request('pg', pgDelete, 'msg_b')))).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    const [created, deleted] = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(created).toMatchObject({ op: 'upsert', ts: 1559033904863, seq: 'lsn:00000000000024023128', data: { email: 'annek@noanswer.org' } });
    expect(deleted).toMatchObject({ op: 'delete', data: { id: 1 }, seq: 'lsn:00000000000046523128' });
  });

  it('gives a re-sent event the same id, so merges absorb the duplicate', async () => {
    const { handler, publisher } = setup();
    await handler(request('pg', pgCreate, 'msg_a'));
    await handler(request('pg', [pgCreate], 'msg_b'));
    const [a, b] = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(a!.id).toBe(b!.id);
  });

  it('quarantines malformed events with their position and accepts the rest', async () => {
    const { handler, publisher, quarantine } = setup();
    const res = await handler(request('mysql', [mysqlCreate, { payload: { op: 'c', after: null, source: { db: 'inventory', table: 'customers' } } }, 7], 'msg_q'));
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 2 });
    expect(publisher.bodies(QUEUE)).toHaveLength(1);
    const items = (await quarantine.list('customers')).map((i) => [i.position, i.reason]).sort();
    expect(items).toEqual([
      ['msg_q#001', 'op "c" needs after with the row, got null'],
      ['msg_q#002', 'event is a number, not a Debezium change event object'],
    ]);
  });

  it('answers 400 for a body that is neither an event nor an array', async () => {
    const { handler } = setup();
    const res = await handler(request('mysql', 'text'));
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toMatch(/Debezium change event/);
  });
});

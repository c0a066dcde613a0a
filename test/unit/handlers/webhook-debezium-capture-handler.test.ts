import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES, flowSchema } from '../../../functions/config/schema';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { parseStepMessage } from '../../../functions/handlers/step-messages';
import { createWebhookCaptureHandler } from '../../../functions/handlers/webhook-capture-handler';
import { mysqlCreate, mysqlDelete, mysqlSnapshotOrders, mysqlUpdate, pgCreate, pgDelete, tombstone } from '../../fixtures/debezium';
import { changeEvent, heartbeat, logicalMessage, pgEnvelopeSchema, schemaChange, T0, transactionBegin, transactionEnd, truncate, wrapped } from '../../fixtures/debezium-connectors';
import { FakeSecrets } from '../../fixtures/fakes';
import { WEBHOOK_SECRET } from '../../fixtures/flows';
import { fakeStepContext } from '../../fixtures/step-context';

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
  return setupWithMetrics();
}

function setupWithMetrics(f = flow) {
  const { publisher, audit, quarantine, dedup, clock, metrics } = fakeStepContext();
  const handler = createWebhookCaptureHandler({
    flow: f,
    secrets: new FakeSecrets({ s: WEBHOOK_SECRET }),
    webhookSecrets: { mysql: 's', pg: 's' },
    transformQueueUrl: QUEUE,
    publisher,
    dedup,
    audit,
    quarantine,
    clock,
    metrics,
  });
  return { handler, publisher, audit, quarantine, clock, metrics };
}

function request(sourceId: string, body: unknown, id = 'msg_1'): APIGatewayProxyEventV2 {
  return rawRequest(sourceId, JSON.stringify(body), id);
}

/** A signed request of exactly this body text (digits JSON.stringify would round stay as they are). */
function rawRequest(sourceId: string, raw: string, id = 'msg_1'): APIGatewayProxyEventV2 {
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
    expect(json(res)).toEqual({ accepted: 3, duplicates: 0, quarantined: 0, skipped: 2 });
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
    const pos = 'pg:00000000000024023119:00000000000024023128';
    expect(created).toMatchObject({ op: 'upsert', ts: 1559033904863, pos, seq: pos, data: { email: 'annek@noanswer.org' } });
    expect(deleted).toMatchObject({ op: 'delete', data: { id: 1 }, pos: 'pg:00000000000024023160:00000000000046523128' });
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
    const items = (await quarantine.list('customers')).items.map((i) => [i.position, i.reason]).sort();
    expect(items).toEqual([
      ['msg_q#001', 'op "c" needs after with the row, got null'],
      ['msg_q#002', 'event is a number, not a Debezium change event object'],
    ]);
  });

  it('keeps a masked column of a malformed event out of its quarantine copy, wherever in the event it sits', async () => {
    // Prepare: a flow masking last_name; the marker value looks like no PII, so only the mask can hide it.
    const masked = flowSchema.parse({ ...flow, transform: { mask: { last_name: 'redact' } } });
    const { publisher, audit, quarantine, dedup, clock, metrics } = fakeStepContext();
    const handler = createWebhookCaptureHandler({ flow: masked, secrets: new FakeSecrets({ s: WEBHOOK_SECRET }), webhookSecrets: { mysql: 's', pg: 's' }, transformQueueUrl: QUEUE, publisher, dedup, audit, quarantine, clock, metrics });
    const malformed = { payload: { op: 'x', before: { id: 1, last_name: 'Zq-Marker-1' }, after: { id: 1, last_name: 'Zq-Marker-2' }, source: { db: 'inventory', table: 'customers' } } };

    // Act
    const res = await handler(request('mysql', [malformed], 'msg_m'));

    // Assess
    expect(json(res)).toMatchObject({ quarantined: 1 });
    const items = (await quarantine.list('customers')).items;
    expect(items).toHaveLength(1);
    expect(JSON.stringify(items)).not.toMatch(/Zq-Marker/);
    expect(JSON.stringify(audit.entries)).not.toMatch(/Zq-Marker/);
  });

  it('answers 400 for a body that is neither an event nor an array', async () => {
    const { handler } = setup();
    const res = await handler(request('mysql', 'text'));
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toMatch(/Debezium change event/);
  });
});

describe('webhook capture of Debezium events that are not row changes', () => {
  const at = (n: number) => ({ at: n, ms: T0 + n * 1000 });

  it('answers 202 with heartbeats, transaction boundaries, schema changes and messages counted as skipped; nothing stored', async () => {
    const { handler, publisher, quarantine, audit, metrics } = setupWithMetrics();
    const body = [
      heartbeat(T0),
      transactionBegin('571:53195829', T0),
      wrapped(changeEvent('postgresql', 'c', { after: { id: 1, first_name: 'Anne' } }, at(1))),
      transactionEnd('571:53195832', T0, 1, 'public.customers'),
      logicalMessage(at(2)),
      schemaChange('postgresql', at(3)),
    ];
    const res = await handler(request('pg', body, 'msg_s'));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0, skipped: 5 });
    expect(publisher.bodies(QUEUE)).toHaveLength(1);
    expect((await quarantine.list('customers')).items).toEqual([]);
    expect(audit.entries.map((e) => e.outcome)).toEqual(['captured']);
    expect(metrics.counts).toMatchObject({ Captured: 1, Skipped: 5 });
  });

  it('audits a truncate with its table and position, counts it in the answer and the Truncated metric, and stores nothing', async () => {
    const { handler, publisher, quarantine, audit, metrics } = setupWithMetrics();
    const res = await handler(request('pg', truncate('postgresql', at(4)), 'msg_t'));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 0, duplicates: 0, quarantined: 0, truncated: 1 });
    expect(publisher.bodies(QUEUE)).toHaveLength(0);
    expect((await quarantine.list('customers')).items).toEqual([]);
    expect(audit.entries).toEqual([
      expect.objectContaining({ outcome: 'truncated', step: 'capture', source: 'pg', reason: expect.stringMatching(/^table postgres\.public\.customers truncated at log position pg:/), detail: expect.objectContaining({ table: 'postgres.public.customers', onTruncate: 'ignore', position: expect.stringMatching(/^pg:/) }) }),
    ]);
    expect(metrics.counts.Truncated).toBe(1);
  });

  it('never answers 5xx for 19-digit source.ts_ns, also in an event it quarantines', async () => {
    const { handler, quarantine, publisher } = setupWithMetrics();
    const good = '{"op":"u","before":null,"after":{"id":1,"first_name":"Anne"},"source":{"connector":"postgresql","db":"postgres","schema":"public","table":"customers","lsn":24023128,"ts_ms":1795683600000,"ts_us":1795683600000123,"ts_ns":1795683600000123456},"ts_ns":1795683600000923456}';
    const bad = '{"op":"x","after":{"id":2},"source":{"connector":"postgresql","db":"postgres","schema":"public","table":"customers","lsn":24023129,"ts_ns":1795683600000123456}}';
    const res = await handler(rawRequest('pg', `[${good},${bad}]`, 'msg_n'));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 1 });
    const [env] = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(Math.abs(env!.ts - 1_795_683_600_000.123456)).toBeLessThan(0.001);
    const [item] = (await quarantine.list('customers')).items;
    expect(JSON.stringify(item!.record)).toContain('"ts_ns":"1795683600000123');
  });

  it('decodes a 19-digit NanoTimestamp column to the nanosecond (the JSON text, not a rounded double)', async () => {
    // Prepare: io.debezium.time.NanoTimestamp is an int64 of ns since the epoch (Debezium's PostgreSQL data types page).
    const { handler, publisher } = setupWithMetrics();
    const schema = pgEnvelopeSchema([{ field: 'id', type: 'int32' }, { field: 'seen', type: 'int64', name: 'io.debezium.time.NanoTimestamp' }]);
    const event = JSON.stringify({ schema, payload: changeEvent('postgresql', 'u', { after: { id: 7, seen: 0 } }, { at: 1, ms: T0 }) }).replace('"seen":0', '"seen":1700000000123456789');

    // Act
    const res = await handler(rawRequest('pg', event, 'msg_nano'));

    // Assess
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE)[0]!.data).toEqual({ id: 7, seen: '2023-11-14T22:13:20.123456789' });
  });

  it('quarantines a row whose plain int64 a JSON number would round, keeping its digits, and counts it as quarantined', async () => {
    // Prepare
    const { handler, publisher, quarantine } = setupWithMetrics();
    const schema = pgEnvelopeSchema([{ field: 'id', type: 'int32' }, { field: 'balance', type: 'int64' }]);
    const event = (id: number, balance: string) => JSON.stringify({ schema, payload: changeEvent('postgresql', 'u', { after: { id, balance: 0 } }, { at: id, ms: T0 }) }).replace('"balance":0', `"balance":${balance}`);

    // Act
    const res = await handler(rawRequest('pg', `[${event(1, '9223372036854775807')},${event(2, '42')}]`, 'msg_big_int'));

    // Assess
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 1 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data)).toEqual([{ id: 2, balance: 42 }]);
    const [item] = (await quarantine.list('customers')).items;
    expect(item!.reason).toContain('$.balance');
    expect(item!.record).toMatchObject({ id: 1, balance: '9223372036854775807' });
  });

  it('sends a delete whose row holds an int64 beyond 2^53: its key keeps the digits, other fields the nearest double', async () => {
    const { handler, publisher, quarantine } = setupWithMetrics();
    const event = JSON.stringify({ payload: changeEvent('postgresql', 'd', { before: { id: 1, balance: 0 } }, { at: 3, ms: T0 }) })
      .replace('"balance":0', '"balance":9223372036854775807')
      .replace('"id":1', '"id":9007199254740993');
    const res = await handler(rawRequest('pg', event, 'msg_big_delete'));
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => [e.op, e.data])).toEqual([['delete', { id: '9007199254740993', balance: 9223372036854775807 }]]);
    expect((await quarantine.list('customers')).items).toEqual([]);
  });

  it('quarantines a MongoDB document sent as an object with a number a double cannot hold, keeping its digits', async () => {
    const { handler, publisher, quarantine } = setupWithMetrics();
    const event = JSON.stringify({ payload: { ...changeEvent('mongodb', 'c', { after: { id: 1 } }, { at: 4, ms: T0 }), after: { _id: 'a1', n: 0 } } }).replace('"n":0', '"n":12345678901234567890');
    const res = await handler(rawRequest('mysql', event, 'msg_mongo_object'));
    expect(json(res)).toEqual({ accepted: 0, duplicates: 0, quarantined: 1 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE)).toEqual([]);
    const [item] = (await quarantine.list('customers')).items;
    expect(item!.reason).toContain('$.n');
    expect(item!.record).toMatchObject({ _id: 'a1', n: '12345678901234567890' });
    // The same number in relaxed Extended JSON text, as the connector writes documents by default.
    const asText = JSON.stringify({ payload: { ...changeEvent('mongodb', 'c', { after: { id: 1 } }, { at: 5, ms: T0 }), after: '{"_id":"a2","n":0}' } }).replace('\\"n\\":0', '\\"n\\":12345678901234567890');
    expect(json(await handler(rawRequest('mysql', asText, 'msg_mongo_text')))).toEqual({ accepted: 0, duplicates: 0, quarantined: 1 });
  });

  it('quarantines a MongoDB update of some fields without the document under lww, which would drop the others; takes it under field-lww', async () => {
    // Prepare: capture.mode change_streams, no pre-image: the update names its fields and the filter its _id.
    const event = { ...changeEvent('mongodb', 'u', { after: { id: 1 } }, { at: 6, ms: T0 }), after: null, before: null, filter: '{"_id": "a3"}', updateDescription: { updatedFields: '{"email": "new@example.com"}', removedFields: [], truncatedArrays: [] } };
    const lww = setupWithMetrics();
    const perField = setupWithMetrics(flowSchema.parse({ ...flow, conflict: { strategy: 'field-lww' } }));

    // Act
    const refused = await lww.handler(request('mysql', event, 'msg_partial'));
    const taken = await perField.handler(request('mysql', event, 'msg_partial'));

    // Assess
    expect(json(refused)).toEqual({ accepted: 0, duplicates: 0, quarantined: 1 });
    expect((await lww.quarantine.list('customers')).items[0]!.reason).toMatch(/under conflict strategy "lww" would replace the record with those fields alone/);
    expect(json(taken)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(perField.publisher.bodies<ChangeEnvelope>(QUEUE)[0]).toMatchObject({ op: 'upsert', data: { _id: 'a3', email: 'new@example.com' } });
    // With a pre-image the update is the whole document: taken under lww too.
    const withPre = { ...event, before: '{"_id": "a3", "name": "Ann", "email": "old@example.com"}' };
    expect(json(await lww.handler(request('mysql', withPre, 'msg_pre')))).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(lww.publisher.bodies<ChangeEnvelope>(QUEUE)[0]).toMatchObject({ data: { _id: 'a3', name: 'Ann', email: 'new@example.com' } });
  });

  it('skips a bare null body, a Kafka tombstone sent alone', async () => {
    const { handler, publisher } = setupWithMetrics();
    const res = await handler(rawRequest('pg', 'null', 'msg_tomb'));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 0, duplicates: 0, quarantined: 0, skipped: 1 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE)).toEqual([]);
  });

  it('takes a Debezium Server batch of 200 events with schemas under the default body limit of a debezium source', async () => {
    const { handler, publisher } = setupWithMetrics();
    const columns = [
      { field: 'id', type: 'int32' },
      ...['first_name', 'last_name', 'email', 'phone', 'street', 'city', 'postcode', 'country', 'company', 'title', 'notes'].map((field) => ({ field, type: 'string' })),
      { field: 'credit_limit', type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal', parameters: { scale: '2', 'connect.decimal.precision': '12' } },
      { field: 'created_at', type: 'int64', name: 'io.debezium.time.MicroTimestamp' },
      { field: 'updated_at', type: 'string', name: 'io.debezium.time.ZonedTimestamp' },
      { field: 'active', type: 'boolean' },
    ];
    const schema = pgEnvelopeSchema(columns);
    const row = (id: number) => ({
      id, first_name: 'Anne', last_name: 'Kretchmar', email: `anne${id}@noanswer.org`, phone: '+44 20 7946 0018', street: '12 Analytical Row', city: 'London',
      postcode: 'EC1A 1BB', country: 'GB', company: 'Engines Ltd', title: 'Programmer', notes: 'Prefers e-mail. Account reviewed in the last quarter.', credit_limit: 'B88=',
      created_at: 1_795_683_600_000_123, updated_at: '2026-11-26T09:00:00.123456Z', active: true,
    });
    const batch = Array.from({ length: 200 }, (_, i) => ({ schema, payload: changeEvent('postgresql', 'u', { before: row(i), after: { ...row(i), title: 'Lead' } }, { at: i + 1, ms: T0 + i }) }));
    const raw = JSON.stringify(batch);
    // A batch Debezium Server really sends is over the 1 MB default of a json source.
    expect(raw.length).toBeGreaterThan(DEFAULT_MAX_BODY_BYTES);
    const res = await handler(rawRequest('pg', raw, 'msg_batch'));
    expect(res.statusCode).toBe(202);
    expect(json(res)).toMatchObject({ accepted: 200, quarantined: 0 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE)[0]!.data).toMatchObject({ credit_limit: '19.99', created_at: '2026-11-26T09:00:00.000123' });
  });
});

describe('webhook capture of Debezium events for a source with onTruncate "delete"', () => {
  const deleting = flowSchema.parse({ ...flow, sources: flow.sources.map((s) => (s.id === 'pg' ? { ...s, table: undefined, onTruncate: 'delete' } : s)) });
  const at = { at: 1, ms: T0 + 1000 };
  const row = (source: unknown) => ({ before: null, after: { id: 5, email: 'ada@example.com' }, source, op: 'c', ts_ms: T0 });

  it('quarantines at capture, with the event kept, a row change whose table it cannot index: none named, or a name too long', async () => {
    // Prepare
    const { handler, publisher, quarantine } = setupWithMetrics(deleting);
    const named = (table: string) => ({ ...(truncate('postgresql', at).source as Record<string, unknown>), table });

    // Act
    const schemaOnly = { db: 'postgres', schema: 'public' };
    const gone = { before: { id: 6 }, after: null, source: null, op: 'd', ts_ms: T0 };
    const res = await handler(request('pg', [row(null), row('garbage'), row({}), row(schemaOnly), row(named('t'.repeat(5000))), row(named('customers')), gone], 'msg_n'));

    // Assess: five quarantined with their reason and content; the good one and the delete (never indexed) go on as valid step messages.
    expect(json(res)).toEqual({ accepted: 2, duplicates: 0, quarantined: 5 });
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.op, e.tbl])).toEqual([
      ['upsert', 'postgres.public.customers'],
      ['delete', undefined],
    ]);
    for (const e of sent) expect(parseStepMessage(JSON.stringify(e)).ok).toBe(true);
    const items = (await quarantine.list('customers')).items.sort((a, b) => String(a.position).localeCompare(String(b.position)));
    expect(items.map((i) => i.reason)).toEqual([
      ...Array(4).fill('the event names no table (source.table), which onTruncate "delete" needs'),
      expect.stringMatching(/^table name is 5016 bytes; the longest that onTruncate "delete" indexes for source "pg" is \d+ bytes$/),
    ]);
    expect(items[0]!.record).toMatchObject({ id: 5 });
  });

  it('quarantines a truncate of a table name too long to index instead of sending it on', async () => {
    // Prepare
    const { handler, publisher, quarantine } = setupWithMetrics(deleting);
    const event = truncate('postgresql', at);
    const long = { ...event, source: { ...(event.source as Record<string, unknown>), table: 't'.repeat(3000) } };

    // Act
    const res = await handler(request('pg', long, 'msg_t'));

    // Assess
    expect(json(res)).toEqual({ accepted: 0, duplicates: 0, quarantined: 1 });
    expect(publisher.bodies(QUEUE)).toHaveLength(0);
    expect((await quarantine.list('customers')).items).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^truncate not applied: table name is 3016 bytes; the longest/) })]);
  });
});

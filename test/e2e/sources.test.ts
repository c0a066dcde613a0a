import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { main } from '../../lib/cli/main';
import { parseConfig } from '../../lib/config/load';
import type { SynclineConfigInput } from '../../functions/config/schema';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { pgCreate, pgDelete, pgUpdate } from '../fixtures/debezium';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-sources-secret-01').toString('base64');
const TOKEN = 'catalog-token-123';
const ORDERS_TABLE = 'e2e-orders-source';
const BUCKET = 'e2e-inbox';

type Flow = SynclineConfigInput['flows'][number];
const replica = [{ id: 'replica', type: 'dynamodb' as const, keyAttribute: 'id' }];

/** One flow per source type, each delivering to its own replica table. */
function sourcesConfig(apiUrl: string) {
  const flows: Flow[] = [
    {
      id: 'orders',
      key: ['id'],
      sources: [{ id: 'table', type: 'dynamodb-stream', tableName: ORDERS_TABLE, filter: { status: [{ 'anything-but': 'draft' }] } }],
      targets: replica,
    },
    {
      id: 'catalog',
      key: ['id'],
      sources: [
        {
          id: 'api',
          type: 'schedule',
          every: '1 day',
          http: { url: `${apiUrl}/items`, itemsPath: 'items', pagination: { type: 'cursor', cursorPath: 'next', param: 'cursor' }, auth: { type: 'bearer', secretName: 'catalog-api-token' } },
          mode: 'full',
          deletes: { enabled: true, maxDeleteRatio: 0.5 },
        },
      ],
      targets: replica,
    },
    {
      id: 'files',
      key: ['id'],
      sources: [
        { id: 'jsonl', type: 'schedule', every: '1 day', s3: { bucket: BUCKET, prefix: 'jsonl/', format: 'jsonl' } },
        { id: 'csv', type: 'schedule', cron: 'cron(0 3 * * ? *)', s3: { bucket: BUCKET, prefix: 'csv/', format: 'csv' } },
      ],
      targets: replica,
    },
    { id: 'customers', key: ['id'], sources: [{ id: 'pg', type: 'webhook', format: 'debezium' }], targets: replica },
    {
      id: 'inbound',
      key: ['id'],
      sources: [
        { id: 'queue', type: 'sqs' },
        { id: 'bus', type: 'eventbridge', busName: 'e2e-bus', pattern: { source: ['e2e.shop'], 'detail-type': ['OrderPlaced'] } },
      ],
      targets: replica,
    },
  ];
  return parseConfig({ flows }, 'e2e sources fixture');
}

/** A paginated JSON API: pages of 2 by cursor, bearer auth, one 429 (Retry-After: 1) on the very first request. */
function startCatalogApi() {
  const items = [1, 2, 3, 4, 5].map((n) => ({ id: `p${n}`, name: `Product ${n}`, price: n * 10 }));
  const state = { items, requests: 0, throttled: 0, unauthorized: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      state.unauthorized++;
      res.writeHead(401).end();
      return;
    }
    if (state.requests === 1) {
      state.throttled++;
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"message":"slow down"}');
      return;
    }
    const from = Number(url.searchParams.get('cursor') ?? 0);
    const page = state.items.slice(from, from + 2);
    const next = from + 2 < state.items.length ? String(from + 2) : null;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: page, next }));
  });
  return { state, server };
}

describe('every source type through the local runtime', () => {
  let rt: Runtime;
  let api: ReturnType<typeof startCatalogApi>;
  const logs: string[] = [];
  const started = Date.now();

  const replicaItem = async (flow: string, key: string) =>
    (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows[flow]!.targetTables.replica, Key: { id: key }, ConsistentRead: true }))).Item;
  const replicaWhere = (flow: string, key: string, ok: (item: Record<string, unknown> | undefined) => boolean, what: string) =>
    waitFor(async () => {
      const item = await replicaItem(flow, key);
      return ok(item) ? { item } : undefined;
    }, what);
  const post = async (path: string, body?: unknown) => {
    const res = await fetch(`${rt.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };

  beforeAll(async () => {
    api = startCatalogApi();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    const apiUrl = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
    rt = await startRuntime({
      config: sourcesConfig(apiUrl),
      port: 0,
      webhookSecret: SECRET,
      secrets: { 'catalog-api-token': TOKEN },
      visibilityTimeoutSeconds: 1,
      log: (l) => logs.push(l),
    });
  });
  afterAll(async () => {
    await rt?.stop();
    await new Promise((r) => api?.server.close(r));
    // Measured for the report: the whole file, runtime start to stop.
    console.log(`sources e2e: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it('creates the source table with a stream, the source bucket, the inbound queues and the on-failure queue', async () => {
    const flow = (await getJson(`${rt.url}/flows/orders`)).json;
    expect(rt.resources.flows.orders!.sourceTables).toEqual({ table: ORDERS_TABLE });
    expect(rt.resources.flows.files!.sourceBuckets).toEqual({ jsonl: BUCKET, csv: BUCKET });
    expect(rt.resources.flows.orders!.streamFailureQueues.table!.name).toBe('orders-capture-table-dlq');
    expect(Object.keys(rt.resources.flows.inbound!.queues)).toEqual(expect.arrayContaining(['inbound-queue', 'inbound-bus']));
    expect(flow.config.sources[0].tableName).toBe(ORDERS_TABLE);
    // The cron source has a local timer (03:00 UTC), so nothing fires during the test.
    expect(rt.schedules.get('files/csv')!.next).toBeGreaterThan(Date.now());
  });

  it('dynamodb-stream: a put, an update and a delete in DynamoDB Local reach the replica; a filtered record does not', async () => {
    // Act
    await rt.clients.dynamodb.send(new PutItemCommand({ TableName: ORDERS_TABLE, Item: { id: { S: 'o1' }, status: { S: 'new' }, total: { N: '10' } } }));
    await rt.clients.dynamodb.send(new PutItemCommand({ TableName: ORDERS_TABLE, Item: { id: { S: 'd1' }, status: { S: 'draft' } } }));
    await rt.clients.dynamodb.send(
      new UpdateItemCommand({ TableName: ORDERS_TABLE, Key: { id: { S: 'o1' } }, UpdateExpression: 'SET #s = :s', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': { S: 'paid' } } }),
    );

    // Assess
    const { item } = await replicaWhere('orders', 'o1', (i) => i?.status === 'paid', 'o1 paid in the replica');
    expect(item).toMatchObject({ id: 'o1', status: 'paid', total: 10 });
    // d1 came before o1's update in the same shard, so it has been handled: filtered out.
    expect(await replicaItem('orders', 'd1')).toBeUndefined();

    await rt.clients.dynamodb.send(new DeleteItemCommand({ TableName: ORDERS_TABLE, Key: { id: { S: 'o1' } } }));
    await replicaWhere('orders', 'o1', (i) => i === undefined, 'o1 deleted from the replica');
    const lineage = (await getJson(`${rt.url}/flows/orders/records/o1/lineage`)).json as any[];
    expect(lineage.filter((e) => e.step === 'capture' && e.outcome === 'captured').length).toBeGreaterThanOrEqual(3);
  });

  it('backfill: an item the stream never saw is re-captured by `syncline backfill`', async () => {
    // Prepare: written while the stream is off, so only a full re-capture finds it.
    await rt.clients.dynamodb.send(new UpdateTableCommand({ TableName: ORDERS_TABLE, StreamSpecification: { StreamEnabled: false } }));
    await rt.clients.dynamodb.send(new PutItemCommand({ TableName: ORDERS_TABLE, Item: { id: { S: 'legacy-1' }, status: { S: 'archived' }, total: { N: '7' } } }));
    await rt.clients.dynamodb.send(new UpdateTableCommand({ TableName: ORDERS_TABLE, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }));
    const out: string[] = [];
    const err: string[] = [];

    // Act
    const code = await main(['backfill', 'orders', '--url', rt.url, '--json'], { out: (l) => out.push(l), err: (l) => err.push(l) });

    // Assess
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const [summary] = JSON.parse(out.join('\n'));
    // d1 (draft) is filtered as the stream capture filters it.
    expect(summary).toMatchObject({ flow: 'orders', source: 'table', table: ORDERS_TABLE, scanned: 2, sent: 1, filtered: 1, failed: 0 });
    const { item } = await replicaWhere('orders', 'legacy-1', (i) => i !== undefined, 'legacy-1 in the replica');
    expect(item).toMatchObject({ status: 'archived', total: 7 });
    // Usage and wrong-source errors.
    expect(await main(['backfill'], { out: () => undefined, err: () => undefined })).toBe(2);
    expect((await post('/flows/catalog/sources/api/backfill')).status).toBe(400);
    expect(await main(['backfill', 'orders', '--stack', 'Prod'], { out: () => undefined, err: () => undefined })).toBe(1);
  });

  it('schedule http: paginates, honours a 429 Retry-After, and infers the delete of a record removed between two pulls', async () => {
    // Act: first pull
    const first = await post('/flows/catalog/sources/api/pull');

    // Assess
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ flow: 'catalog', source: 'api', pages: 3, records: 5, changed: 5, deletesInferred: 0, complete: true, quarantined: 0 });
    expect(api.state.throttled).toBe(1);
    expect(api.state.unauthorized).toBe(0);
    await replicaWhere('catalog', 'p3', (i) => i?.name === 'Product 3', 'p3 in the replica');

    // Act: p3 disappears upstream
    api.state.items = api.state.items.filter((i) => i.id !== 'p3');
    const second = await post('/flows/catalog/sources/api/pull', {});

    // Assess
    expect(second.json).toMatchObject({ records: 4, changed: 0, deletesInferred: 1, complete: true });
    await replicaWhere('catalog', 'p3', (i) => i === undefined, 'p3 deleted from the replica');
    expect(await replicaItem('catalog', 'p4')).toMatchObject({ name: 'Product 4', price: 40 });
  });

  it('schedule pull route: 404 for an unknown flow or source, 400 for a source that is not a schedule', async () => {
    expect((await post('/flows/nope/sources/api/pull')).status).toBe(404);
    expect((await post('/flows/catalog/sources/nope/pull')).status).toBe(404);
    expect((await post('/flows/orders/sources/table/pull')).status).toBe(400);
    expect((await post('/flows/catalog/sources/api/pull', '{oops')).status).toBe(400);
  });

  it('schedule s3: JSONL and CSV objects in fauxqs S3; a bad line is quarantined with its position', async () => {
    // Prepare
    const jsonl = ['{"id":"f1","name":"one"}', '{"id": "broken"', '{"id":"f2","name":"two"}'].join('\n') + '\n';
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jsonl/batch-1.jsonl', Body: jsonl }));
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'csv/batch-1.csv', Body: 'id,name,qty\nf3,three,3\nf4,"four, quoted",4\n' }));

    // Act
    const fromJsonl = await post('/flows/files/sources/jsonl/pull');
    const fromCsv = await post('/flows/files/sources/csv/pull');

    // Assess
    expect(fromJsonl.json).toMatchObject({ records: 3, changed: 2, quarantined: 1, complete: true });
    expect(fromCsv.json).toMatchObject({ records: 2, changed: 2, quarantined: 0, complete: true });
    await replicaWhere('files', 'f2', (i) => i?.name === 'two', 'f2 in the replica');
    const { item } = await replicaWhere('files', 'f4', (i) => i !== undefined, 'f4 in the replica');
    expect(item).toMatchObject({ name: 'four, quoted', qty: '4' });
    const quarantined = (await getJson(`${rt.url}/flows/files/quarantine`)).json as any[];
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]).toMatchObject({ source: 'jsonl', position: `s3://${BUCKET}/jsonl/batch-1.jsonl line 2` });
    expect(quarantined[0].reason).toMatch(/line 2 is not valid JSON/);
  });

  it('schedule s3: a record whose key is a number beyond 2^53 is quarantined by its path, and the pull goes on', async () => {
    // Prepare: the pull's own state keeps the keys it saw, which DynamoDB could not store exactly.
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jsonl/batch-2.jsonl', Body: '{"id":4111111111111111111,"name":"card"}\n{"id":"f5","name":"five"}\n' }));

    // Act
    const pulled = await post('/flows/files/sources/jsonl/pull');

    // Assess: batch-1 is read again (a full pull), its broken line quarantined again, under the same item.
    expect(pulled.json).toMatchObject({ records: 5, changed: 1, quarantined: 2, complete: true });
    await replicaWhere('files', 'f5', (i) => i?.name === 'five', 'f5 in the replica');
    const quarantined = ((await getJson(`${rt.url}/flows/files/quarantine`)).json as { position: string; reason: string }[]).filter((q) => q.position.includes('batch-2'));
    expect(quarantined.map((q) => q.reason)).toEqual(['record cannot be carried exactly: number at $.id is an integer beyond 2^53 that a JSON number would round; send it as a string']);
  });

  it('debezium webhook: PostgreSQL create, update and delete events reach the replica', async () => {
    const url = `${rt.url}/webhooks/customers/pg`;
    expect(await postWebhook(url, [pgCreate, pgUpdate], { secret: SECRET })).toMatchObject({ status: 202, json: { accepted: 2, quarantined: 0 } });
    const { item } = await replicaWhere('customers', '1', (i) => i?.first_name === 'Anne Marie', 'customer 1 updated');
    expect(item).toMatchObject({ last_name: 'Kretchmar', email: 'annek@noanswer.org' });

    expect((await postWebhook(url, pgDelete, { secret: SECRET })).status).toBe(202);
    await replicaWhere('customers', '1', (i) => i === undefined, 'customer 1 deleted');
  });

  it('sqs: a record and a list of records sent to the inbound queue reach the replica', async () => {
    const queueUrl = rt.resources.flows.inbound!.queues['inbound-queue']!.url;
    await rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ id: 'q1', via: 'sqs' }) }));
    await rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify([{ id: 'q2', via: 'sqs' }, { id: 'q3', via: 'sqs' }]) }));
    for (const key of ['q1', 'q2', 'q3']) await replicaWhere('inbound', key, (i) => i?.via === 'sqs', `${key} in the replica`);
  });

  it('eventbridge: POST /local/events routes a matching event to the source; a non-matching one is listed but not captured', async () => {
    // Act
    const put = await post('/local/events', {
      Entries: [
        { Source: 'e2e.other', DetailType: 'OrderPlaced', Detail: JSON.stringify({ id: 'e0' }), EventBusName: 'e2e-bus' },
        { Source: 'e2e.shop', DetailType: 'OrderPlaced', Detail: JSON.stringify({ id: 'e1', total: 5 }), EventBusName: 'e2e-bus' },
        { Source: 'e2e.shop', DetailType: 'OrderPlaced', Detail: 'not json', EventBusName: 'e2e-bus' },
      ],
    });

    // Assess
    expect(put.status).toBe(200);
    expect(put.json.FailedEntryCount).toBe(1);
    expect(put.json.Entries[0].EventId).toEqual(expect.any(String));
    expect(put.json.Entries[2]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    const { item } = await replicaWhere('inbound', 'e1', (i) => i !== undefined, 'e1 in the replica');
    expect(item).toMatchObject({ total: 5 });
    const events = (await getJson(`${rt.url}/local/events?busName=e2e-bus`)).json as any[];
    expect(events.map((e) => [e.event.source, e.routedTo])).toEqual([
      ['e2e.other', []],
      ['e2e.shop', ['inbound-inbound-bus']],
    ]);
    expect(events[1].event).toMatchObject({ version: '0', 'detail-type': 'OrderPlaced', detail: { id: 'e1', total: 5 } });
    // e0 went nowhere, so there is no record of it.
    expect((await getJson(`${rt.url}/flows/inbound/records/e0`)).status).toBe(404);
    expect((await post('/local/events', { entries: [] })).status).toBe(400);
    expect((await post('/local/events', 'nope')).status).toBe(400);
  });

  it('settles: the runtime becomes idle, with nothing in the stream on-failure queue', async () => {
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'the runtime to become idle');
    expect(logs.filter((l) => /giving up|failed/.test(l))).toEqual([]);
  });
});

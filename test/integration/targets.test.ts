import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTargetWriter, type HttpTargetConfig } from '../../functions/adapters/http-target-writer';
import { S3TargetWriter } from '../../functions/adapters/s3-target-writer';
import { SqsTargetWriter } from '../../functions/adapters/sqs-target-writer';
import { contentHash } from '../../functions/core/envelope';
import type { TargetWrite } from '../../functions/ports';
import { flowSchema } from '../../functions/config/schema';
import type { LocalClients } from '../../lib/local/clients';
import { createQueue, integrationClients, uniqueSuffix } from '../support/local-servers';

const TS = Date.UTC(2026, 0, 15, 9, 5);
const change = (key: string, version: number, data: Record<string, unknown> | null): TargetWrite => ({
  flow: 'people',
  key,
  targetId: 't',
  version,
  ts: TS,
  view: { data, deleted: data === null, clocks: {}, hash: contentHash(data) },
});

let clients: LocalClients;
beforeAll(() => {
  clients = integrationClients();
});
afterAll(() => clients.destroy());

describe('S3 target on fauxqs', () => {
  it('writes a JSONL object per batch; the same batch again overwrites the same object', async () => {
    // Prepare
    const bucket = `lake-${uniqueSuffix()}`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const writer = new S3TargetWriter({ client: clients.s3, bucket, prefix: 'crm/' });
    const batch = [change('p1', 2, { id: 'p1', name: 'Ann' }), change('p2', 5, null)];

    // Act
    await writer.writeBatch(batch);
    await writer.writeBatch([...batch].reverse());

    // Assess
    const listed = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([expect.stringMatching(/^crm\/flow=people\/dt=2026-01-15\/hour=09\/[0-9a-f]{32}\.jsonl$/)]);
    const body = await (await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: listed.Contents![0]!.Key }))).Body!.transformToString();
    expect(body.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { op: 'upsert', key: 'p1', version: 2, ts: TS, data: { id: 'p1', name: 'Ann' } },
      { op: 'delete', key: 'p2', version: 5, ts: TS, data: null },
    ]);
  });
});

describe('SQS target on fauxqs', () => {
  it('sends one message per key with the record', async () => {
    const queue = await createQueue(clients, `out-${uniqueSuffix()}`);
    const out = await new SqsTargetWriter({ client: clients.sqs, queueUrl: queue.url }).writeBatch(Array.from({ length: 12 }, (_, i) => change(`k${i}`, 1, { id: `k${i}` })));
    expect([...out.values()].every((r) => r.status === 'written')).toBe(true);
    const bodies: unknown[] = [];
    for (let i = 0; i < 5 && bodies.length < 12; i++) {
      const got = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      bodies.push(...(got.Messages ?? []).map((m) => JSON.parse(m.Body!)));
    }
    expect(bodies).toHaveLength(12);
    expect(bodies).toContainEqual({ flow: 'people', key: 'k3', op: 'upsert', version: 1, ts: TS, data: { id: 'k3' } });
  });
});

describe('HTTP target against a misbehaving server', () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string; at: number }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const key = decodeURIComponent(req.url!.split('/').pop()!);
        const n = (hits.get(key) ?? 0) + 1;
        hits.set(key, n);
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, at: Date.now() });
        if (key === 'slow') return void setTimeout(() => res.writeHead(200).end(), 1500);
        if (key === 'throttled' && n === 1) return void res.writeHead(429, { 'retry-after': '1' }).end();
        if (key === 'flaky' && n < 3) return void res.writeHead(500).end('oops');
        if (key === 'down') return void res.writeHead(503).end();
        if (key === 'invalid') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"email is required"}');
        if (key === 'moved') return void res.writeHead(301, { location: '/login' }).end();
        if (key === 'see-other') return void res.writeHead(303, { location: '/login' }).end();
        if (req.url === '/login') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>sign in</html>');
        res.writeHead(key === 'new' ? 201 : 204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const target = (extra: Record<string, unknown> = {}) =>
    flowSchema.parse({ id: 'people', key: ['id'], sources: [{ id: 's', type: 'webhook' }], targets: [{ id: 'api', type: 'http', url: `${base}/people/{key}`, timeoutMs: 300, ...extra }] })
      .targets[0] as HttpTargetConfig;

  it('delivers 2xx, waits out 429 Retry-After, retries 500s, times out slow answers and rejects a 400 with its body', async () => {
    // Prepare
    const writer = new HttpTargetWriter({ flowId: 'people', target: target(), retry: { baseDelayMs: 50, maxAttempts: 3 } });
    const keys = ['new', 'throttled', 'flaky', 'slow', 'down', 'invalid'];

    // Act
    const started = Date.now();
    const out = await writer.writeBatch(keys.map((k) => change(k, 1, { id: k })));
    const elapsed = Date.now() - started;

    // Assess
    expect(Object.fromEntries([...out].map(([k, r]) => [k, r.status]))).toEqual({
      new: 'written',
      throttled: 'written',
      flaky: 'written',
      slow: 'retry',
      down: 'retry',
      invalid: 'rejected',
    });
    expect(out.get('invalid')).toMatchObject({ detail: { status: 400, body: '{"error":"email is required"}' } });
    expect(out.get('slow')).toMatchObject({ reason: 'timed out after 300 ms after 3 attempts' });
    const throttled = seen.filter((s) => s.url.endsWith('/throttled'));
    expect(throttled[1]!.at - throttled[0]!.at).toBeGreaterThanOrEqual(950);
    expect(hits.get('invalid')).toBe(1);
    expect(hits.get('down')).toBe(3);
    // The same Idempotency-Key on every attempt of a record.
    expect(new Set(seen.filter((s) => s.url.endsWith('/flaky')).map((s) => s.headers['idempotency-key'])).size).toBe(1);
    console.log(`http target batch of ${keys.length} keys with 429/500/timeout/400 settled in ${elapsed} ms`);
  });

  it('rejects a redirect instead of following it: the record did not reach the API, whatever the page redirected to answers', async () => {
    // Prepare: an API moved behind a sign-in page, which answers 200 to the GET a followed redirect would send.
    const writer = new HttpTargetWriter({ flowId: 'people', target: target(), retry: { baseDelayMs: 50, maxAttempts: 3 } });
    const writerByPost = new HttpTargetWriter({ flowId: 'people', target: target({ method: 'POST' }), retry: { baseDelayMs: 50, maxAttempts: 3 } });

    // Act
    const put = await writer.writeBatch([change('see-other', 1, { id: 'see-other' })]);
    const post = await writerByPost.writeBatch([change('moved', 1, { id: 'moved' })]);

    // Assess
    expect(put.get('see-other')).toMatchObject({ status: 'rejected', reason: 'PUT answered 303', detail: { status: 303, location: '/login' } });
    expect(post.get('moved')).toMatchObject({ status: 'rejected', reason: 'POST answered 301', detail: { status: 301, location: '/login' } });
    expect(seen.some((s) => s.url === '/login')).toBe(false);
  });

  it('keeps to rateLimitPerSecond with the per-invocation token bucket', async () => {
    const { TokenBucket } = await import('../../functions/adapters/rate-limiter');
    const writer = new HttpTargetWriter({ flowId: 'people', target: target(), limiter: new TokenBucket(5, 1) });
    const before = seen.length;
    const started = Date.now();
    await writer.writeBatch(Array.from({ length: 6 }, (_, i) => change(`rate-${i}`, 1, { id: i })));
    const elapsed = Date.now() - started;
    expect(seen.length - before).toBe(6);
    // 1 at once, then one every 200 ms.
    expect(elapsed).toBeGreaterThanOrEqual(950);
    console.log(`6 requests at 5/s took ${elapsed} ms`);
  });
});

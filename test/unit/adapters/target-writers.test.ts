import 'aws-sdk-client-mock-vitest/extend';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { sdkEventPutter } from '../../../functions/adapters/eventbridge-sdk';
import { EventBridgeTargetWriter } from '../../../functions/adapters/eventbridge-target-writer';
import { HttpTargetWriter } from '../../../functions/adapters/http-target-writer';
import { dotSegmentKey, methodFor } from '../../../functions/adapters/http-target-request';
import { clearTokenCache } from '../../../functions/adapters/request-auth';
import { TokenBucket } from '../../../functions/adapters/rate-limiter';
import { s3ObjectKey, S3TargetWriter } from '../../../functions/adapters/s3-target-writer';
import { queueUrlFromArn, SqsTargetWriter } from '../../../functions/adapters/sqs-target-writer';
import { contentHash } from '../../../functions/core/envelope';
import type { TargetWrite } from '../../../functions/ports';
import { flowSchema } from '../../../functions/config/schema';
import { FakeSecrets } from '../../fixtures/fakes';

const noWait = { sleep: async () => {}, baseDelayMs: 1 };
const TS = Date.UTC(2026, 0, 15, 13, 30);

function change(key: string, version: number, data: Record<string, unknown> | null): TargetWrite {
  return { flow: 'contacts', key, targetId: 't', version, ts: TS, view: { data, deleted: data === null, clocks: {}, hash: contentHash(data) } };
}

describe('S3TargetWriter', () => {
  const s3 = mockClient(S3Client);
  const client = new S3Client({ region: 'us-east-1' });
  beforeEach(() => s3.reset());

  it('writes one JSONL object per batch under prefix/flow=/dt=/hour=, a line {op,key,version,ts,data} per key', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const writer = new S3TargetWriter({ client, bucket: 'lake', prefix: 'crm' });

    // Act
    const out = await writer.writeBatch([change('b', 2, { id: 'b', n: 1 }), change('a', 1, null)]);

    // Assess
    expect([...out.values()]).toEqual([{ status: 'written' }, { status: 'written' }]);
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input.Key).toMatch(/^crm\/flow=contacts\/dt=2026-01-15\/hour=13\/[0-9a-f]{32}\.jsonl$/);
    const lines = String(input.Body).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { op: 'delete', key: 'a', version: 1, ts: TS, data: null },
      { op: 'upsert', key: 'b', version: 2, ts: TS, data: { id: 'b', n: 1 } },
    ]);
  });

  it('derives the object key from the batch content only: a redelivered batch overwrites, another batch does not', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const writer = new S3TargetWriter({ client, bucket: 'lake' });

    // Act
    await writer.writeBatch([change('a', 1, { id: 'a' }), change('b', 1, { id: 'b' })]);
    await writer.writeBatch([change('b', 1, { id: 'b' }), change('a', 1, { id: 'a' })]);
    await writer.writeBatch([change('a', 2, { id: 'a', x: 1 })]);

    // Assess
    const keys = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
    expect(keys[0]).toBe(keys[1]);
    expect(keys[2]).not.toBe(keys[0]);
    expect(s3ObjectKey('p/', 'f', ['x'], TS)).toBe(s3ObjectKey('p', 'f', ['x'], TS));
  });

  it('reports every key for retry when PutObject fails, sending it once: the SDK client is the only retry layer', async () => {
    s3.on(PutObjectCommand).rejects(Object.assign(new Error('slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }));
    const out = await new S3TargetWriter({ client, bucket: 'lake' }).writeBatch([change('a', 1, { id: 'a' })]);
    const key = s3.commandCalls(PutObjectCommand)[0]!.args[0].input.Key;
    expect(out.get('a')).toEqual({ status: 'retry', reason: `PutObject s3://lake/${key} failed: SlowDown` });
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
  });
});

describe('EventBridgeTargetWriter', () => {
  const eb = mockClient(EventBridgeClient);
  const putter = sdkEventPutter(new EventBridgeClient({ region: 'us-east-1' }));
  const writer = () => new EventBridgeTargetWriter({ putter, busName: 'crm', source: 'syncline', detailType: 'ContactChanged', retry: noWait });
  beforeEach(() => eb.reset());

  it('puts in batches of 10 with the detail type per op and the record as detail', async () => {
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const changes = Array.from({ length: 23 }, (_, i) => change(`k${i}`, 1, i === 0 ? null : { id: `k${i}` }));

    const out = await writer().writeBatch(changes);

    expect([...out.values()].every((r) => r.status === 'written')).toBe(true);
    expect(eb.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries!.length)).toEqual([10, 10, 3]);
    const first = eb.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
    expect(first).toMatchObject({ Source: 'syncline', DetailType: 'ContactChanged.Deleted', EventBusName: 'crm' });
    expect(JSON.parse(first.Detail!)).toEqual({ flow: 'contacts', key: 'k0', op: 'delete', version: 1, ts: TS, data: null });
  });

  it('retries the entries counted in FailedEntryCount with backoff, and reports the ones still failing per record', async () => {
    // Prepare: k1 is throttled once then accepted; k2 keeps failing; k3 is malformed for good.
    let call = 0;
    eb.on(PutEventsCommand).callsFake((input: { Entries: { Detail: string }[] }) => {
      call++;
      const entries = input.Entries.map((e) => {
        const key = JSON.parse(e.Detail).key as string;
        if (key === 'k2' || (key === 'k1' && call === 1)) return { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' };
        if (key === 'k3') return { ErrorCode: 'MalformedDetail', ErrorMessage: 'bad' };
        return { EventId: `id-${key}` };
      });
      return { FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries };
    });

    // Act
    const out = await writer().writeBatch(['k0', 'k1', 'k2', 'k3'].map((k) => change(k, 1, { id: k })));

    // Assess
    expect(out.get('k0')).toEqual({ status: 'written' });
    expect(out.get('k1')).toEqual({ status: 'written' });
    expect(out.get('k2')).toMatchObject({ status: 'retry', reason: expect.stringContaining('ThrottlingException') });
    expect(out.get('k3')).toMatchObject({ status: 'rejected', reason: expect.stringContaining('MalformedDetail') });
    expect(eb.commandCalls(PutEventsCommand)[1]!.args[0].input.Entries!.map((e) => JSON.parse(e.Detail!).key)).toEqual(['k1', 'k2']);
    expect(eb).toHaveReceivedCommandTimes(PutEventsCommand, 5);
  });
});

describe('SqsTargetWriter', () => {
  const sqs = mockClient(SQSClient);
  const client = new SQSClient({ region: 'us-east-1' });
  const URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/people-out';
  beforeEach(() => sqs.reset());

  it('derives the queue URL from the ARN', () => {
    expect(queueUrlFromArn('arn:aws:sqs:eu-west-1:111122223333:people-out')).toBe(URL);
    expect(queueUrlFromArn('arn:aws-cn:sqs:cn-north-1:111122223333:q')).toBe('https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q');
    expect(() => queueUrlFromArn('arn:aws:sns:eu-west-1:111122223333:t')).toThrow(/not an SQS queue ARN/);
  });

  it('sends {flow,key,op,version,ts,data} with SendMessageBatch, retries Failed entries, and reports the rest per key', async () => {
    // Prepare: entry m1 fails on the server side every time; m0 once.
    let call = 0;
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => {
      call++;
      const failed = input.Entries.filter((e) => e.Id === 'm1' || (e.Id === 'm0' && call === 1));
      return { Successful: [], Failed: failed.map((e) => ({ Id: e.Id, SenderFault: false, Code: 'InternalError' })) };
    });
    const writer = new SqsTargetWriter({ client, queueUrl: URL, retry: { ...noWait, maxAttempts: 3 } });

    // Act
    const out = await writer.writeBatch([change('a', 1, { id: 'a' }), change('b', 1, { id: 'b' })]);

    // Assess
    expect(out.get('a')).toEqual({ status: 'written' });
    expect(out.get('b')).toMatchObject({ status: 'retry' });
    const body = JSON.parse(sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries![0]!.MessageBody!);
    expect(body).toEqual({ flow: 'contacts', key: 'a', op: 'upsert', version: 1, ts: TS, data: { id: 'a' } });
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 3);
  });
});

describe('HttpTargetWriter', () => {
  const target = (extra: Record<string, unknown> = {}) =>
    flowSchema.parse({ id: 'contacts', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], targets: [{ id: 'api', type: 'http', url: 'https://api.example.com/c/{key}', ...extra }] }).targets[0] as Extract<ReturnType<typeof flowSchema.parse>['targets'][number], { type: 'http' }>;
  type Call = { url: string; init: RequestInit };
  const fakeFetch = (answer: (call: Call, n: number) => Response | Promise<Response>) => {
    const calls: Call[] = [];
    const fn = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return answer({ url, init }, calls.length);
    }) as unknown as typeof fetch;
    return { fn, calls };
  };

  it('sends the URL-encoded key, the method per op, the record as default body, an Idempotency-Key and bearer auth', async () => {
    const f = fakeFetch(() => new Response(null, { status: 204 }));
    const writer = new HttpTargetWriter({ flowId: 'contacts', target: target({ secretName: 'tok' }), secrets: new FakeSecrets({ tok: 's3cr3t' }), fetch: f.fn, retry: noWait });

    const out = await writer.writeBatch([change('a/b c', 3, { id: 'a/b c', n: 1 }), change('gone', 4, null)]);

    expect([...out.values()]).toEqual([{ status: 'written' }, { status: 'written' }]);
    const put = f.calls.find((c) => c.init.method === 'PUT')!;
    expect(put.url).toBe('https://api.example.com/c/a%2Fb%20c');
    expect(JSON.parse(String(put.init.body))).toEqual({ id: 'a/b c', n: 1 });
    const headers = put.init.headers as Record<string, string>;
    expect(headers.authorization).toBe('Bearer s3cr3t');
    expect(headers['idempotency-key']).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // The body is the bare record: the version travels in a header, so the API can keep the highest.
    expect(headers['x-syncline-version']).toBe('3');
    const del = f.calls.find((c) => c.init.method === 'DELETE')!;
    expect(del.init.body).toBeUndefined();
    expect((del.init.headers as Record<string, string>)['x-syncline-version']).toBe('4');
    // Same flow, key and version: same key; another version: another one.
    const again = (await writer.requestOf(change('a/b c', 3, { id: 'a/b c' }))).idempotencyKey;
    expect(again).toBe(headers['idempotency-key']);
    expect((await writer.requestOf(change('a/b c', 4, { id: 'a/b c' }))).idempotencyKey).not.toBe(again);
    expect(methodFor({ upsert: 'POST', delete: 'PATCH' }, 'delete')).toBe('PATCH');
  });

  it('marks a key it never sent a request for, once the time budget is spent, apart from one it tried', async () => {
    // Prepare: one worker; each request takes 15 s of the 20 s budget on a clock the fetch moves.
    let now = 0;
    const f = fakeFetch(() => {
      now += 15_000;
      return new Response(null, { status: 503 });
    });
    const writer = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, retry: noWait, concurrency: 1, now: () => now });

    // Act
    const out = await writer.writeBatch([change('a', 1, { id: 'a' }), change('b', 1, { id: 'b' })]);

    // Assess: a was tried (twice, then the budget ran out); b never was.
    expect(out.get('a')).toEqual({ status: 'retry', reason: 'time budget of the invocation spent (last: HTTP 503)' });
    expect(out.get('b')).toEqual({ status: 'retry', reason: 'time budget of the invocation spent (last: not tried)', untried: true });
    expect(f.calls.map((c) => c.url)).toEqual(['https://api.example.com/c/a', 'https://api.example.com/c/a']);
  });

  it('refuses the keys "." and ".." where {key} is a whole path segment, so a request never leaves its path', async () => {
    // Prepare
    const f = fakeFetch(() => new Response(null, { status: 204 }));
    const writer = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, retry: noWait });

    // Act
    const out = await writer.writeBatch([change('..', 1, { id: '..' }), change('.', 1, { id: '.' }), change('ok', 1, { id: 'ok' })]);

    // Assess
    expect(out.get('..')).toEqual({ status: 'rejected', reason: 'key ".." cannot fill {key} of https://api.example.com/c/{key}: as a whole path segment it would change the path' });
    expect(out.get('.')?.status).toBe('rejected');
    expect(f.calls.map((c) => c.url)).toEqual(['https://api.example.com/c/ok']);
    // Inside a segment the dots are harmless: `/c/...json` stays under /c/.
    expect(dotSegmentKey('https://api.example.com/c/{key}.json', '..')).toBeUndefined();
    expect(dotSegmentKey('https://api.example.com/c/{key}?v=1', '..')).toMatch(/would change the path/);
  });

  it('maps the body with JSONata and signs it in the Standard Webhooks format that a syncline webhook verifies', async () => {
    const secret = 'whsec_' + Buffer.from('a-24-byte-signing-secret').toString('base64');
    const f = fakeFetch(() => new Response('{}', { status: 200 }));
    const writer = new HttpTargetWriter({
      flowId: 'contacts',
      target: target({ method: 'POST', body: '{"fields": {"name": name}, "ref": $key, "v": $version}', secretName: 'peer', authType: 'webhook' }),
      secrets: new FakeSecrets({ peer: secret }),
      fetch: f.fn,
      retry: noWait,
    });

    await writer.writeBatch([change('c1', 7, { id: 'c1', name: 'Ada' })]);

    const { init } = f.calls[0]!;
    expect(JSON.parse(String(init.body))).toEqual({ fields: { name: 'Ada' }, ref: 'c1', v: 7 });
    const headers = init.headers as Record<string, string>;
    expect(new Webhook(secret).verify(String(init.body), headers)).toEqual({ fields: { name: 'Ada' }, ref: 'c1', v: 7 });
    expect(headers['webhook-id']).toBe(headers['idempotency-key']);
  });

  it('uses basic auth from user:password', async () => {
    const f = fakeFetch(() => new Response('', { status: 200 }));
    await new HttpTargetWriter({ flowId: 'contacts', target: target({ secretName: 'b', authType: 'basic' }), secrets: new FakeSecrets({ b: 'ann:pw' }), fetch: f.fn }).writeBatch([change('k', 1, { id: 'k' })]);
    expect((f.calls[0]!.init.headers as Record<string, string>).authorization).toBe(`Basic ${Buffer.from('ann:pw').toString('base64')}`);
  });

  it('auth: a header credential, and oauth2 client credentials fetched once and again after a 401', async () => {
    // Prepare
    clearTokenCache();
    let tokens = 0;
    const f = fakeFetch((call) => {
      if (call.url === 'https://login.example.com/token') return Response.json({ access_token: `at-${++tokens}`, token_type: 'Bearer', expires_in: 3600 });
      const auth = (call.init.headers as Record<string, string>).authorization;
      return new Response('', { status: auth === 'Bearer at-1' && tokens === 1 && f.calls.length > 3 ? 401 : 200 });
    });
    const oauth = { type: 'oauth2', tokenUrl: 'https://login.example.com/token', secretName: 'o' };
    const secrets = new FakeSecrets({ o: JSON.stringify({ clientId: 'c', clientSecret: 's' }), h: 'key-1' });

    // Act
    await new HttpTargetWriter({ flowId: 'contacts', target: target({ auth: { type: 'header', name: 'X-Api-Key', secretName: 'h' } }), secrets, fetch: f.fn }).writeBatch([change('k', 1, { id: 'k' })]);
    const w = new HttpTargetWriter({ flowId: 'contacts', target: target({ auth: oauth }), secrets, fetch: f.fn });
    const first = await w.writeBatch([change('a', 1, { id: 'a' }), change('b', 1, { id: 'b' })]);
    const afterExpiry = await w.writeBatch([change('c', 1, { id: 'c' })]);

    // Assess
    expect((f.calls[0]!.init.headers as Record<string, string>)['x-api-key']).toBe('key-1');
    expect([...first.values(), ...afterExpiry.values()]).toEqual([{ status: 'written' }, { status: 'written' }, { status: 'written' }]);
    expect(f.calls.filter((c) => c.url.endsWith('/token'))).toHaveLength(2);
    expect((f.calls.at(-1)!.init.headers as Record<string, string>).authorization).toBe('Bearer at-2');
  });

  it('retries 429 honouring Retry-After and 5xx with backoff, then leaves the key to the queue', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    const f = fakeFetch((call) => (call.url.endsWith('/busy') ? new Response('', { status: 503 }) : new Response('', { status: 429, headers: { 'retry-after': '2' } })));
    const later = fakeFetch((_c, n) => (n === 1 ? new Response('', { status: 429, headers: { 'retry-after': '1' } }) : new Response('', { status: 201 })));
    const w = (fn: typeof fetch) => new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: fn, retry: { sleep, baseDelayMs: 1 } });

    expect((await w(later.fn).writeBatch([change('k', 1, { id: 'k' })])).get('k')).toEqual({ status: 'written' });
    expect(waits).toEqual([1000]);
    const out = await w(f.fn).writeBatch([change('busy', 1, { id: 'busy' })]);
    expect(out.get('busy')).toMatchObject({ status: 'retry', reason: 'HTTP 503 after 3 attempts' });
    const tooLong = fakeFetch(() => new Response('', { status: 429, headers: { 'retry-after': '120' } }));
    expect((await w(tooLong.fn).writeBatch([change('k', 1, { id: 'k' })])).get('k')).toMatchObject({ status: 'retry', reason: expect.stringContaining('retry after 120s') });
    expect(tooLong.calls).toHaveLength(1);
  });

  it('stops the batch at a 429: the keys not yet sent wait for the queue, untried, instead of each collecting its own 429', async () => {
    // Prepare: Freshservice counts refused calls against the per-minute limit, and asks to wait a minute.
    const f = fakeFetch(() => new Response('{"message":"rate limited"}', { status: 429, headers: { 'retry-after': '60' } }));
    const w = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, retry: { baseDelayMs: 1 }, concurrency: 4 });
    const keys = Array.from({ length: 10 }, (_, i) => `t${i}`);

    // Act
    const out = await w.writeBatch(keys.map((k) => change(k, 1, { id: k })));

    // Assess: the four requests in flight when the first 429 came, and no more.
    expect(f.calls).toHaveLength(4);
    expect([...out.values()].every((r) => r.status === 'retry')).toBe(true);
    const untried = [...out.values()].filter((r) => r.status === 'retry' && r.untried);
    expect(untried).toHaveLength(6);
    expect(untried[0]).toMatchObject({ reason: expect.stringMatching(/^HTTP 429 from the API: not sent until \d{4}-/) });
  });

  it('holds every key left to retry until a pause the API asked for ends, and no key when the pause was waited out', async () => {
    // Prepare: a clock that moves only when the writer sleeps.
    let clock = 1_000_000;
    const sleep = async (ms: number) => void (clock += ms);
    const long = fakeFetch(() => new Response('', { status: 429, headers: { 'retry-after': '60' } }));
    const short = fakeFetch((_c, n) => (n === 1 ? new Response('', { status: 503, headers: { 'retry-after': '2' } }) : new Response('', { status: 500 })));
    const w = (fn: typeof fetch) => new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: fn, now: () => clock, retry: { sleep, baseDelayMs: 1 } });

    // Act
    const held = await w(long.fn).writeBatch(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => change(k, 1, { id: k })));
    const start = clock;
    const waited = await w(short.fn).writeBatch([change('k', 1, { id: 'k' })]);

    // Assess: the keys refused and the keys not sent alike come back no sooner than the minute; a 2 s pause, waited out, holds nothing.
    expect([...held.values()].map((r) => r.status === 'retry' && r.notBefore)).toEqual(Array(6).fill(1_000_000 + 60_000));
    expect(waited.get('k')).toMatchObject({ status: 'retry', reason: 'HTTP 500 after 3 attempts' });
    expect(waited.get('k')).not.toHaveProperty('notBefore');
    expect(clock - start).toBeGreaterThanOrEqual(2000);
  });

  it('holds nothing for a 503 without Retry-After: its backoff is ours, not a pause the API named', async () => {
    // Prepare: the longest backoff the jitter can draw, so the batch ends inside it.
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    let clock = 1_000_000;
    const f = fakeFetch(() => new Response('', { status: 503 }));
    const w = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, now: () => clock, retry: { sleep: async (ms) => void (clock += ms), baseDelayMs: 1000 } });

    // Act
    const out = await w.writeBatch([change('k', 1, { id: 'k' })]).finally(() => vi.restoreAllMocks());

    // Assess
    expect(out.get('k')).toMatchObject({ status: 'retry', reason: 'HTTP 503 after 3 attempts' });
    expect(out.get('k')).not.toHaveProperty('notBefore');
  });

  it('waits a short pause a 429 asked for before sending the rest of the batch, then sends it', async () => {
    // Prepare: the first request is refused for a second; everything after it goes through.
    const waits: number[] = [];
    const f = fakeFetch((_c, n) => (n === 1 ? new Response('', { status: 429, headers: { 'retry-after': '1' } }) : new Response('', { status: 201 })));
    const w = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, retry: { sleep: async (ms) => void waits.push(ms), baseDelayMs: 1 }, concurrency: 2 });
    const keys = Array.from({ length: 6 }, (_, i) => `t${i}`);

    // Act
    const out = await w.writeBatch(keys.map((k) => change(k, 1, { id: k })));

    // Assess: every key written, one request more than keys; the other worker waited about the second too.
    expect([...out.values()]).toEqual(keys.map(() => ({ status: 'written' })));
    expect(f.calls).toHaveLength(7);
    expect(waits.filter((ms) => ms > 900 && ms <= 1000).length).toBeGreaterThanOrEqual(2);
  });

  it('takes a rate token only after waiting out the batch\'s pause, so the rate limit holds when the pause ends', async () => {
    // Prepare
    const events: string[] = [];
    const f = fakeFetch((_c, n) => (n === 1 ? new Response('', { status: 429, headers: { 'retry-after': '1' } }) : new Response('', { status: 201 })));
    const limiter = { take: async () => void events.push('take') };
    const w = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, limiter, retry: { sleep: async () => void events.push('sleep'), baseDelayMs: 1 }, concurrency: 1 });

    // Act
    const out = await w.writeBatch([change('a', 1, { id: 'a' }), change('b', 1, { id: 'b' })]);

    // Assess: a is refused, sleeps its second out and is sent again; b waits the pause out, then takes its token.
    expect([...out.values()]).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect(events).toEqual(['take', 'sleep', 'take', 'sleep', 'take']);
  });

  it('waits out a pause that began while a key waited for its rate token, before sending it', async () => {
    // Prepare: a's request is refused for 5 s; b waits for its token meanwhile.
    const events: string[] = [];
    let refused!: () => void;
    const answered = new Promise<void>((r) => (refused = r));
    const f = fakeFetch((call) => {
      const key = new URL(call.url).pathname.split('/').pop()!;
      events.push(`send ${key}`);
      if (key === 'a' && !events.includes('429')) {
        events.push('429');
        return new Response('', { status: 429, headers: { 'retry-after': '5' } });
      }
      return new Response('', { status: 201 });
    });
    let takes = 0;
    const limiter = { take: async () => void (++takes === 2 && (await answered)) };
    // b's token comes while a sleeps out its own pause.
    const sleep = async (ms: number) => {
      events.push(`sleep ${Math.round(ms / 1000)}s`);
      refused();
    };
    const w = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, limiter, retry: { sleep, baseDelayMs: 1 }, concurrency: 2 });

    // Act
    const out = await w.writeBatch([change('a', 1, { id: 'a' }), change('b', 1, { id: 'b' })]);

    // Assess: b is sent only after a wait of the pause, not inside it.
    expect([...out.values()]).toEqual([{ status: 'written' }, { status: 'written' }]);
    const sentB = events.indexOf('send b');
    expect(events.slice(events.indexOf('429'), sentB).filter((e) => e === 'sleep 5s').length).toBe(2);
  });

  it('scrubs the record values out of what it reports of a target that receives PII as it is (allowPii)', async () => {
    // Prepare: the API quotes the address it refuses; a body mapping fails on the phone number
    const f = fakeFetch(() => new Response('{"error":"invalid email ada@corp.io"}', { status: 400 }));
    const record = { id: 'k', email: 'ada@corp.io', phone: '+1 555-0100' };
    const refused = new HttpTargetWriter({ flowId: 'contacts', target: target({ allowPii: ['email'] }), fetch: f.fn, retry: noWait });
    const unmappable = new HttpTargetWriter({ flowId: 'contacts', target: target({ allowPii: ['phone'], body: '{"phone": $number(phone)}' }), fetch: f.fn, retry: noWait });
    const plain = new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, retry: noWait });

    // Act
    const outs = [await refused.writeBatch([change('k', 1, record)]), await unmappable.writeBatch([change('k', 1, record)])];
    const kept = await plain.writeBatch([change('k', 1, record)]);

    // Assess
    expect(outs[0]!.get('k')).toMatchObject({ status: 'rejected', detail: { status: 400, body: '{"error":"invalid email [REDACTED]"}' } });
    expect(outs[1]!.get('k')).toMatchObject({ status: 'rejected', reason: expect.stringContaining('body mapping failed') });
    for (const out of outs) expect(JSON.stringify(out.get('k'))).not.toMatch(/ada@corp\.io|555-0100/);
    expect(kept.get('k')).toMatchObject({ detail: { body: '{"error":"invalid email ada@corp.io"}' } });
  });

  it('scrubs the forms an API echoes a value in (JSON-escaped to ASCII, URL-encoded, upper-cased, past the cut), and keeps the status', async () => {
    // Prepare
    const name = 'José "Pepe" Ñúñez';
    const ascii = JSON.stringify({ got: name }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    // The address straddles the 1,000th character of the answer as received.
    const head = `${ascii} ADA@CORP.IO `;
    const echo = `${head}${'x'.repeat(995 - head.length)}ada@corp.io`;
    const f = fakeFetch(() => new Response(echo, { status: 400, headers: { location: 'https://api.example.com/login?u=ada%40corp.io' } }));
    const writer = new HttpTargetWriter({ flowId: 'contacts', target: target({ allowPii: ['name', 'email'] }), fetch: f.fn, retry: noWait });

    // Act
    const out = (await writer.writeBatch([change('k', 1, { id: 'k', name, email: 'ada@corp.io', qty: 400 })])).get('k') as unknown as { reason: string; detail: { body: string } };

    // Assess
    expect(out.reason).toBe('PUT answered 400');
    expect(out.detail.body.length).toBeLessThanOrEqual(1000);
    expect(JSON.stringify(out)).not.toMatch(/Pepe|ada%40corp|ADA@CORP|ada@corp/i);
  });

  it('reports only the code of a body mapping error, and scrubs a short string value (a PIN), for an allowPii target', async () => {
    // Prepare
    const f = fakeFetch(() => new Response('bad pin 4821', { status: 422 }));
    const record = { id: 'k', email: 'ada@corp.io', pin: '4821' };
    const mapping = new HttpTargetWriter({ flowId: 'contacts', target: target({ allowPii: ['email'], body: '{"e": $error("no: " & $substring(email, 0, 6))}' }), fetch: f.fn, retry: noWait });
    const echoing = new HttpTargetWriter({ flowId: 'contacts', target: target({ allowPii: ['pin'] }), fetch: f.fn, retry: noWait });

    // Act
    const mapped = (await mapping.writeBatch([change('k', 1, record)])).get('k');
    const echoed = (await echoing.writeBatch([change('k', 1, record)])).get('k');

    // Assess
    expect(mapped).toMatchObject({ status: 'rejected', reason: expect.stringContaining('body mapping failed: D3137') });
    expect(JSON.stringify(mapped)).not.toContain('ada@co');
    expect(echoed).toMatchObject({ status: 'rejected', reason: 'PUT answered 422', detail: { body: 'bad pin [REDACTED]' } });
  });

  it('rejects other 4xx at once with the response body, truncated', async () => {
    const f = fakeFetch(() => new Response('x'.repeat(5000), { status: 400 }));
    const out = await new HttpTargetWriter({ flowId: 'contacts', target: target(), fetch: f.fn, retry: noWait }).writeBatch([change('k', 1, { id: 'k' })]);
    expect(out.get('k')).toMatchObject({ status: 'rejected', reason: 'PUT answered 400', detail: { status: 400 } });
    expect(String((out.get('k') as { detail?: Record<string, unknown> }).detail?.body).length).toBe(1000);
    expect(f.calls).toHaveLength(1);
  });

  it('times out a slow answer and retries it', async () => {
    const f = fakeFetch(
      (call) =>
        new Promise<Response>((_, reject) => {
          call.init.signal!.addEventListener('abort', () => reject(call.init.signal!.reason));
        }),
    );
    const out = await new HttpTargetWriter({ flowId: 'contacts', target: target({ timeoutMs: 20 }), fetch: f.fn, retry: { ...noWait, maxAttempts: 2 } }).writeBatch([change('k', 1, { id: 'k' })]);
    expect(out.get('k')).toMatchObject({ status: 'retry', reason: 'timed out after 20 ms after 2 attempts' });
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then one token per 1/rate seconds', async () => {
    let t = 0;
    const waits: number[] = [];
    const bucket = new TokenBucket(2, 2, () => t, async (ms) => {
      waits.push(ms);
      t += ms;
    });
    for (let i = 0; i < 5; i++) await bucket.take();
    expect(waits).toEqual([500, 500, 500]);
    expect(t).toBe(1500);
  });
});

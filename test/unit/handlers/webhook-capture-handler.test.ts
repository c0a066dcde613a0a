import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { beforeEach, describe, expect, it } from 'vitest';
import { arrivalSeq, eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { createWebhookCaptureHandler, DEDUP_PENDING_SECONDS, type WebhookCaptureDeps } from '../../../functions/handlers/webhook-capture-handler';
import { FakeClock, FakePublisher, FakeSecrets, InMemoryDedupStore } from '../../fixtures/fakes';
import { fakeStepContext, type FakeStepContext } from '../../fixtures/step-context';
import { contactsFlow, ordersFlow, WEBHOOK_SECRET } from '../../fixtures/flows';

const QUEUE = 'https://sqs.local/contacts-transform';

interface Setup extends Pick<FakeStepContext, 'publisher' | 'audit' | 'quarantine' | 'dedup' | 'clock' | 'logger' | 'metrics'> {
  handler: ReturnType<typeof createWebhookCaptureHandler>;
}

function setup(overrides: Partial<WebhookCaptureDeps> = {}): Setup {
  const { publisher, audit, quarantine, dedup, clock, logger, metrics } = fakeStepContext();
  const handler = createWebhookCaptureHandler({
    flow: contactsFlow,
    secrets: new FakeSecrets({ 'secret/crm': WEBHOOK_SECRET, 'secret/shop': WEBHOOK_SECRET.slice('whsec_'.length) }),
    webhookSecrets: { crm: 'secret/crm', shop: 'secret/shop', erp: 'secret/crm' },
    transformQueueUrl: QUEUE,
    publisher,
    dedup,
    audit,
    quarantine,
    clock,
    logger,
    metrics,
    sleep: async () => {},
    ...overrides,
  });
  return { handler, publisher, audit, quarantine, dedup, clock, logger, metrics };
}

interface RequestOptions {
  path?: string;
  id?: string;
  at?: Date;
  secret?: string;
  headers?: Record<string, string>;
  base64?: boolean;
  sign?: boolean;
}

function request(body: string, o: RequestOptions = {}): APIGatewayProxyEventV2 {
  const id = o.id ?? 'msg_2fWw1';
  const at = o.at ?? new Date();
  const signature = new Webhook(o.secret ?? WEBHOOK_SECRET).sign(id, at, body);
  const signed = o.sign === false ? {} : { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
  const path = o.path ?? '/webhooks/contacts/crm';
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{flowId}/{sourceId}',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...signed, ...o.headers },
    requestContext: { http: { method: 'POST', path } },
    body: o.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: o.base64 ?? false,
  } as unknown as APIGatewayProxyEventV2;
}

const json = (res: { body?: string }) => JSON.parse(res.body ?? '{}') as Record<string, unknown>;
const contact = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `n-${id}`, email: `${id}@example.com`, updatedAt: '2026-01-15T10:00:00Z', ...extra });

describe('webhook capture handler', () => {
  let s: Setup;
  beforeEach(() => {
    s = setup();
  });

  it('accepts a signed array, sends one envelope per record to the transform queue and audits captures', async () => {
    // Prepare
    const body = JSON.stringify([contact('c1'), contact('c2', { updatedAt: 1768471200000 })]);

    // Act
    const res = await s.handler(request(body));

    // Assess
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 2, duplicates: 0, quarantined: 0 });
    const sent = s.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({
      v: 1,
      id: eventId('contacts', 'crm', 'msg_2fWw1', 0),
      flow: 'contacts',
      source: 'crm',
      key: '',
      op: 'upsert',
      ts: Date.parse('2026-01-15T10:00:00Z'),
      seq: arrivalSeq('upsert', s.clock.now(), 'msg_2fWw1#000'),
      data: contact('c1'),
      lineage: [{ step: 'capture', outcome: 'captured' }],
    });
    expect(sent[1]!.ts).toBe(1768471200000);
    expect(s.audit.outcomes()).toEqual(['captured', 'captured']);
    expect(s.metrics.counts.Captured).toBe(2);
    expect(s.logger.correlationId).toBe('msg_2fWw1');
    expect(s.logger.text()).not.toContain('example.com');
  });

  it('accepts a single object, a base64 body and headers in any case', async () => {
    // Prepare
    const body = JSON.stringify(contact('c1'));
    const event = request(body, { base64: true });
    const headers = event.headers as Record<string, string>;
    for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      headers[h.toUpperCase()] = headers[h]!;
      delete headers[h];
    }

    // Act
    const res = await s.handler(event);

    // Assess
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
  });

  it('marks records matching deleteWhen as deletes', async () => {
    // Prepare
    const body = JSON.stringify([contact('c1', { event: 'contact.deleted' }), contact('c2', { event: 'contact.updated' })]);

    // Act
    await s.handler(request(body));

    // Assess
    expect(s.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.op)).toEqual(['delete', 'upsert']);
  });

  it('quarantines a record whose timestampField is missing or unparseable, masked, without failing the request', async () => {
    // Prepare
    // Past the latest time a Date holds: it would win every merge.
    const late = [contact('c5', { updatedAt: 9e15 }), contact('c6', { updatedAt: '99999999999999999999' })];
    const text = JSON.stringify([contact('c1'), contact('c2', { updatedAt: 'yesterday' }), contact('c3', { updatedAt: undefined }), contact('c4', { updatedAt: 1 }), ...late]);
    // A number beyond what a double keeps exactly, as a sender may write it.
    const body = text.replace('"updatedAt":1}', '"updatedAt":1.00000000000000000001}');

    // Act
    const res = await s.handler(request(body));

    // Assess
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 5 });
    const items = (await s.quarantine.list('contacts')).items;
    expect(items.map((i) => i.reason).sort()).toEqual([
      'timestampField "updatedAt" holds a number which has more significant digits than a JSON number keeps: not an epoch time',
      'timestampField "updatedAt" is later than any date',
      'timestampField "updatedAt" is later than any date',
      'timestampField "updatedAt" is missing',
      'timestampField "updatedAt" is not an ISO-8601 time, epoch ms or epoch seconds',
    ]);
    expect(JSON.stringify(items)).not.toContain('@example.com');
    expect(s.audit.outcomes().sort()).toEqual(['captured', 'quarantined', 'quarantined', 'quarantined', 'quarantined', 'quarantined']);
  });

  it('answers a repeated webhook-id as duplicates without sending again', async () => {
    // Prepare
    const body = JSON.stringify([contact('c1'), contact('c2')]);
    await s.handler(request(body));

    // Act
    const res = await s.handler(request(body));

    // Assess
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 0, duplicates: 2, quarantined: 0 });
    expect(s.publisher.bodies(QUEUE)).toHaveLength(2);
  });

  it('throws (API Gateway answers 500) when envelopes cannot be queued, and lets the retry through', async () => {
    // Prepare
    const body = JSON.stringify([contact('c1')]);
    s.publisher.failWhen = () => true;

    // Act
    const failed = s.handler(request(body));
    await expect(failed).rejects.toThrow(/could not be sent/);
    s.publisher.failWhen = undefined;
    const retried = await s.handler(request(body));

    // Assess
    expect(retried.statusCode).toBe(202);
    expect(json(retried)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
  });

  it.each([
    ['a missing signature', { sign: false }, /missing webhook signature/],
    ['a wrong secret', { secret: `whsec_${Buffer.from('another-secret-another-secret').toString('base64')}` }, /invalid webhook signature/],
    ['a stale timestamp', { at: new Date(Date.now() - 6 * 60_000) }, /more than 5 minutes off/],
    ['a future timestamp', { at: new Date(Date.now() + 6 * 60_000) }, /more than 5 minutes off/],
  ] as const)('answers 401 for %s', async (_name, options, text) => {
    // Act
    const res = await s.handler(request(JSON.stringify(contact('c1')), options));

    // Assess
    expect(res.statusCode).toBe(401);
    expect(json(res).message).toMatch(text);
    expect(s.publisher.calls).toBe(0);
  });

  it('answers 409 with Retry-After while a delivery is being captured, and takes the retry once a crashed capture lets the claim expire', async () => {
    // Prepare: the first request's function dies after claiming the id, before its records are queued.
    const clock = new FakeClock(Date.now());
    const dedup = new InMemoryDedupStore(clock);
    const hung = setup({ clock, dedup, publisher: Object.assign(new FakePublisher(), { send: () => new Promise<never>(() => undefined) }) });
    const live = setup({ clock, dedup });
    const body = JSON.stringify([contact('c1')]);
    void hung.handler(request(body, { at: new Date(clock.now()) }));
    await new Promise((r) => setTimeout(r, 10));

    // Act
    const during = await live.handler(request(body, { at: new Date(clock.now()) }));
    clock.advance((DEDUP_PENDING_SECONDS + 1) * 1000);
    const retried = await live.handler(request(body, { at: new Date(clock.now()) }));
    const repeated = await live.handler(request(body, { at: new Date(clock.now()) }));

    // Assess
    expect(during.statusCode).toBe(409);
    expect(during.headers).toMatchObject({ 'retry-after': String(DEDUP_PENDING_SECONDS) });
    expect(json(during).message).toMatch(/being captured by another request/);
    expect(json(retried)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(json(repeated)).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
    expect(live.publisher.bodies(QUEUE)).toHaveLength(1);
  });

  it('gives the records of a retried delivery the seq of its first capture, so a capture that failed after queuing them merges as a repeat', async () => {
    // Prepare: the first capture queues its record, then its audit write fails: the sender gets a 5xx and retries later.
    const clock = new FakeClock(Date.now());
    const s = setup({ clock, dedup: new InMemoryDedupStore(clock) });
    s.audit.failWrites = 1;
    const body = JSON.stringify([contact('c1')]);

    // Act
    await expect(s.handler(request(body, { at: new Date(clock.now()) }))).rejects.toThrow('injected audit failure');
    clock.advance(30_000);
    const retried = await s.handler(request(body, { at: new Date(clock.now()) }));

    // Assess: one clock for both copies, so a change of the same second that arrived between them still wins over them.
    expect(json(retried)).toMatchObject({ accepted: 1 });
    const [first, again] = s.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(again!.id).toBe(first!.id);
    expect(again!.seq).toBe(first!.seq);
  });

  it('times a retried delivery of a source without a timestampField by its first arrival too', async () => {
    // Prepare: the time of such a record is its arrival; the retry comes half a minute later.
    const clock = new FakeClock(Date.now());
    const s = setup({ flow: ordersFlow, transformQueueUrl: QUEUE, clock, dedup: new InMemoryDedupStore(clock) });
    s.audit.failWrites = 1;
    const body = JSON.stringify({ orderId: 'o1', status: 'paid' });

    // Act
    await expect(s.handler(request(body, { path: '/webhooks/orders/shop', at: new Date(clock.now()) }))).rejects.toThrow('injected audit failure');
    clock.advance(30_000);
    await s.handler(request(body, { path: '/webhooks/orders/shop', at: new Date(clock.now()) }));

    // Assess
    const [first, again] = s.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect([again!.ts, again!.seq]).toEqual([first!.ts, first!.seq]);
  });

  it('answers a repeat sent while the first is being captured as a duplicate once the first is done, after a short wait', async () => {
    // Prepare: the first request's send to the queue is held until the repeat has waited once.
    const clock = new FakeClock(Date.now());
    const dedup = new InMemoryDedupStore(clock);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slowPublisher = new FakePublisher();
    const send = slowPublisher.send.bind(slowPublisher);
    slowPublisher.send = async (...args) => {
      await held;
      return send(...args);
    };
    const slow = setup({ clock, dedup, publisher: slowPublisher });
    const waits: number[] = [];
    const repeat = setup({ clock, dedup, sleep: async (ms) => {
      waits.push(ms);
      release();
      await new Promise((r) => setTimeout(r, 10));
    } });
    const body = JSON.stringify([contact('c1')]);

    // Act
    const first = slow.handler(request(body, { at: new Date(clock.now()) }));
    await new Promise((r) => setTimeout(r, 10));
    const again = await repeat.handler(request(body, { at: new Date(clock.now()) }));

    // Assess
    expect(json(await first)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(again.statusCode).toBe(202);
    expect(json(again)).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
    expect(waits.length).toBeGreaterThan(0);
    expect(slowPublisher.bodies(QUEUE)).toHaveLength(1);
  });

  it('quarantines a record its key state could not hold even deflated, with the sizes, and accepts its batch-mates', async () => {
    // Prepare: 600 KB that deflate cannot shrink below the 400 KB of a DynamoDB item (base64 of random bytes).
    const blob = randomBytes(450 * 1024).toString('base64');
    const body = JSON.stringify([contact('c1', { blob }), contact('c2')]);
    const roomy = setup({ flow: { ...contactsFlow, sources: [{ ...contactsFlow.sources[0]!, maxBodyBytes: 1_000_000 }] } as typeof contactsFlow });

    // Act
    const res = await roomy.handler(request(body));

    // Assess
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 1 });
    const [item] = (await roomy.quarantine.list('contacts')).items;
    expect(item!.reason).toMatch(/^record of \d+ bytes is still \d+ bytes deflated, more than the 399360 bytes its key's state can hold$/);
    // The key is readable before the transform, so the listing names it, as lineage does.
    expect(item!.envelope.key).toBe('c1');
    expect(roomy.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data?.id)).toEqual(['c2']);
  });

  it('answers 401 when the body was changed after signing', async () => {
    // Prepare
    const event = request(JSON.stringify(contact('c1')));
    event.body = JSON.stringify(contact('c1', { name: 'Mallory' }));

    // Act
    const res = await s.handler(event);

    // Assess
    expect(res.statusCode).toBe(401);
  });

  it.each([
    ['invalid JSON', '{"id": ', /^body is not valid JSON: /],
    ['a string', '"hello"', /must be a JSON object or an array of objects, got a string/],
    ['an array with a non-object', '[{"id":"a"}, 3]', /body\[1\] is a number, not an object/],
    ['too many records', JSON.stringify(Array.from({ length: 501 }, () => ({}))), /at most 500 records, got 501/],
  ])('answers 400 for %s', async (_name, body, text) => {
    // Prepare
    const s2 = setup({ flow: { ...contactsFlow, sources: [{ ...contactsFlow.sources[0]!, maxBodyBytes: 1_000_000 } as never] } });

    // Act
    const res = await s2.handler(request(body));

    // Assess
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toMatch(text);
  });

  it('answers 400 for a body that is not UTF-8, rather than a signature error over changed bytes or a record with them replaced', async () => {
    // Prepare: API Gateway hands bytes it cannot pass as text base64-encoded.
    const bytes = Buffer.concat([Buffer.from('{"id":"c1","name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const event = { ...request(bytes.toString('latin1')), body: bytes.toString('base64'), isBase64Encoded: true };

    // Act
    const res = await s.handler(event);

    // Assess
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toMatch(/not valid UTF-8/);
    expect(s.publisher.bodies(QUEUE)).toEqual([]);
  });

  it('answers 400 naming the Content-Encoding of a compressed body', async () => {
    // Prepare
    const bytes = gzipSync(Buffer.from('{"id":"c1"}'));
    const event = { ...request(bytes.toString('latin1')), body: bytes.toString('base64'), isBase64Encoded: true };
    event.headers = { ...event.headers, 'Content-Encoding': 'gzip' };

    // Act
    const res = await s.handler(event);

    // Assess
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toBe('body is sent with Content-Encoding "gzip", which webhook sources do not decode: send it uncompressed');
  });

  it('answers 413 over the source maxBodyBytes, before checking the signature', async () => {
    // Prepare
    const body = JSON.stringify([contact('c1', { notes: 'x'.repeat(5000) })]);

    // Act
    const res = await s.handler(request(body, { sign: false }));

    // Assess
    expect(res.statusCode).toBe(413);
    expect(json(res).message).toMatch(/limit of source "crm" is 4096 bytes/);
  });

  it('answers 404 for an unknown flow or source, naming the choices', async () => {
    // Act
    const flow = await s.handler(request('{}', { path: '/webhooks/nope/crm' }));
    const source = await s.handler(request('{}', { path: '/webhooks/contacts/erp' }));

    // Assess
    expect(flow.statusCode).toBe(404);
    expect(json(flow).message).toContain('unknown flow "nope"');
    expect(source.statusCode).toBe(404);
    expect(json(source).message).toContain('webhook sources: crm');
  });

  it('answers another method with 405 and Allow: POST, and sends nothing on', async () => {
    // Prepare
    const event = request(JSON.stringify(contact('c1')));

    // Act
    const res = await s.handler({ ...event, requestContext: { ...event.requestContext, http: { ...event.requestContext.http, method: 'PUT' } } });

    // Assess
    expect(res.statusCode).toBe(405);
    expect(res.headers).toMatchObject({ allow: 'POST' });
    expect(json(res).message).toBe('use POST');
    expect(s.publisher.bodies(QUEUE)).toEqual([]);
  });

  it('serves /webhooks/{flowId} for a flow with one webhook source and 404s it with the choices otherwise', async () => {
    // Prepare
    const orders = setup({ flow: ordersFlow, transformQueueUrl: 'q' });

    // Act
    const single = await s.handler(request(JSON.stringify(contact('c1')), { path: '/webhooks/contacts' }));
    const ambiguous = await orders.handler(request('{}', { path: '/webhooks/orders' }));
    const withSource = await orders.handler(request(JSON.stringify({ orderId: 'o1' }), { path: '/webhooks/orders/shop' }));

    // Assess
    expect(single.statusCode).toBe(202);
    expect(ambiguous.statusCode).toBe(404);
    expect(json(ambiguous).message).toContain('one of: shop, erp');
    // The shop secret is stored without the whsec_ prefix and still verifies.
    expect(withSource.statusCode).toBe(202);
    // Audit level "decisions" keeps no captures.
    expect(orders.audit.entries).toEqual([]);
  });

  it('restricts a per-source function to its source', async () => {
    // Prepare
    const shopOnly = setup({ flow: ordersFlow, sourceId: 'shop', transformQueueUrl: 'q' });

    // Act
    const res = await shopOnly.handler(request(JSON.stringify({ orderId: 'o1' }), { path: '/webhooks/orders/erp' }));

    // Assess
    expect(res.statusCode).toBe(404);
    expect(json(res).message).toContain('webhook sources: shop');
  });
});

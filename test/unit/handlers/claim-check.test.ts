import 'aws-sdk-client-mock-vitest/extend';
import { createHash, randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { Webhook } from 'standardwebhooks';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3PayloadStore } from '../../../functions/adapters/s3-payload-store';
import { SqsPublisher } from '../../../functions/adapters/sqs-publisher';
import { claimOf, claimPointer } from '../../../functions/core/claim-check';
import { MAX_RECORD_BYTES } from '../../../functions/core/record-limits';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { compileTransform } from '../../../functions/core/transform/pipeline';
import { withClaimChecks } from '../../../functions/handlers/claim-checks';
import { createTransformHandler } from '../../../functions/handlers/transform-handler';
import { createWebhookCaptureHandler } from '../../../functions/handlers/webhook-capture-handler';
import type { PayloadStore } from '../../../functions/ports';
import { FakePublisher, FakeSecrets, RecordingLogger, sqsEvent } from '../../fixtures/fakes';
import { capturedContact, contactsFlow, HASH_KEY, WEBHOOK_SECRET } from '../../fixtures/flows';
import { fakeStepContext } from '../../fixtures/step-context';

const sqs = mockClient(SQSClient);
const s3 = mockClient(S3Client);
const URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/contacts-resolve';
const KB = 1024;

/** A PayloadStore in memory, with one pointer per put like the S3 one. */
class InMemoryPayloadStore implements PayloadStore {
  readonly objects = new Map<string, string>();
  failPuts = false;
  async put(body: string): Promise<string> {
    if (this.failPuts) throw new Error('injected put failure');
    const key = `claims/${new Date().toISOString().slice(0, 10)}/${createHash('sha256').update(body).digest('hex')}.${randomBytes(8).toString('hex')}.json`;
    this.objects.set(key, body);
    return key;
  }
  async delete(pointer: string): Promise<void> {
    this.objects.delete(pointer);
  }
  async get(pointer: string): Promise<string> {
    const body = this.objects.get(pointer);
    if (body === undefined) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
    return body;
  }
}

const envelope = capturedContact;

const sentEntries = () => sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => (c.args[0].input as SendMessageBatchCommandInput).Entries ?? []);

describe('claim-check pointers', () => {
  it('are recognised only in their own shape, never in an envelope', () => {
    const pointer = claimPointer('claims/2026-01-15/abc.json');
    expect(claimOf(pointer)).toBe('claims/2026-01-15/abc.json');
    expect(claimOf(JSON.stringify(envelope(0, { id: 'c1' })))).toBeUndefined();
    expect(claimOf(JSON.stringify({ 'syncline:claim': 'k', v: 1 }))).toBeUndefined();
    expect(claimOf(JSON.stringify({ 'syncline:claim': 42 }))).toBeUndefined();
    expect(claimOf('{"syncline:claim": nope')).toBeUndefined();
  });
});

describe('SqsPublisher with a payload store', () => {
  beforeEach(() => sqs.reset());

  it('puts a 300 KB body to the store and sends a pointer; small bodies stay inline in the same batch', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({});
    const payloads = new InMemoryPayloadStore();
    const publisher = new SqsPublisher({ client: new SQSClient({ region: 'us-east-1' }), payloads });
    const big = JSON.stringify(envelope(0, { id: 'c1', blob: 'x'.repeat(300 * KB) }));
    const small = JSON.stringify(envelope(1, { id: 'c2' }));

    // Act
    const result = await publisher.send(URL, [
      { id: 'big', body: big },
      { id: 'small', body: small },
    ]);

    // Assess
    expect(result.failed).toEqual([]);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
    const [first, second] = sentEntries();
    const pointer = claimOf(first!.MessageBody!);
    expect(pointer).toMatch(/^claims\/\d{4}-\d{2}-\d{2}\/[0-9a-f]{64}\.[0-9a-f]{16}\.json$/);
    expect(Buffer.byteLength(first!.MessageBody!)).toBeLessThan(200);
    expect(payloads.objects.get(pointer!)).toBe(big);
    expect(second!.MessageBody).toBe(small);
    expect(payloads.objects.size).toBe(1);
  });

  it('fails only the oversized message when its put fails, and without a store as before', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({});
    const payloads = new InMemoryPayloadStore();
    payloads.failPuts = true;
    const messages = [
      { id: 'big', body: 'x'.repeat(300 * KB) },
      { id: 'small', body: '{}' },
    ];

    // Act
    const withFailingStore = await new SqsPublisher({ client: new SQSClient({ region: 'us-east-1' }), payloads }).send(URL, messages);
    const withoutStore = await new SqsPublisher({ client: new SQSClient({ region: 'us-east-1' }) }).send(URL, messages);

    // Assess
    expect(withFailingStore.failed).toEqual(['big']);
    expect(withoutStore.failed).toEqual(['big']);
    expect(sentEntries().map((e) => e.MessageBody)).toEqual(['{}', '{}']);
  });
});

describe('S3PayloadStore', () => {
  beforeEach(() => s3.reset());
  const store = () => new S3PayloadStore({ client: new S3Client({ region: 'us-east-1' }), bucket: 'payloads', now: () => Date.parse('2026-01-15T23:00:00Z') });
  // The part of the SDK's streaming body the store uses.
  const bodyOf = (text: string) => ({ transformToString: async () => text }) as never;

  it('writes claims/<date>/<sha256>.<id>.json, one object per put so each message owns (and deletes) its own', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const body = JSON.stringify({ a: 'b' });
    const hash = createHash('sha256').update(body).digest('hex');

    // Act
    const first = await store().put(body);
    const second = await store().put(body);

    // Assess
    expect(first).toMatch(new RegExp(`^claims/2026-01-15/${hash}\\.[0-9a-f]{16}\\.json$`));
    expect(second).not.toBe(first);
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'payloads', Key: first, Body: body });
  });

  it('deletes a claim by its key, and refuses to delete any other key of the bucket', async () => {
    // Prepare
    s3.on(DeleteObjectCommand).resolves({});
    const key = `claims/2026-01-15/${'a'.repeat(64)}.0123456789abcdef.json`;

    // Act + Assess
    await store().delete(key);
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: 'payloads', Key: key });
    await expect(store().delete('other/secret.json')).rejects.toThrow(/not a claims/);
    expect(s3).toHaveReceivedCommandTimes(DeleteObjectCommand, 1);
  });

  it('reads a claim back, and refuses keys outside claims/ or content that does not match its hash', async () => {
    // Prepare
    const body = JSON.stringify({ a: 'b' });
    const key = `claims/2026-01-15/${createHash('sha256').update(body).digest('hex')}.0123456789abcdef.json`;
    s3.on(GetObjectCommand, { Key: key }).callsFake(() => ({ Body: bodyOf(body) }));
    const tampered = `claims/2026-01-15/${'0'.repeat(64)}.0123456789abcdef.json`;
    s3.on(GetObjectCommand, { Key: tampered }).callsFake(() => ({ Body: bodyOf(body) }));

    // Act + Assess
    await expect(store().get(key)).resolves.toBe(body);
    await expect(store().get('other/secret.json')).rejects.toThrow(/not a claims/);
    await expect(store().get(tampered)).rejects.toThrow(/does not match its hash/);
    expect(s3).toHaveReceivedCommandTimes(GetObjectCommand, 2);
  });
});

describe('consumers of syncline queues (withClaimChecks)', () => {
  const RESOLVE = 'https://sqs.local/contacts-resolve';
  let publisher: FakePublisher;
  let payloads: InMemoryPayloadStore;
  let handler: ReturnType<typeof withClaimChecks>;
  let quarantined: () => Promise<unknown[]>;

  beforeEach(() => {
    const step = fakeStepContext();
    publisher = step.publisher;
    quarantined = async () => (await step.quarantine.list(contactsFlow.id)).items;
    payloads = new InMemoryPayloadStore();
    const { audit, quarantine, clock, logger } = step;
    const transform = createTransformHandler({
      flow: contactsFlow,
      transformer: async () => compileTransform(contactsFlow, { hashKey: HASH_KEY }),
      publisher,
      resolveQueueUrl: RESOLVE,
      audit,
      quarantine,
      clock,
      logger,
    });
    handler = withClaimChecks(transform, payloads, logger);
  });

  it('resolves a pointer to its envelope before the transform parses it', async () => {
    // Prepare
    const big = envelope(0, { id: 'c1', status: 'active', bio: 'y'.repeat(300 * KB) });
    const pointer = await payloads.put(JSON.stringify(big));

    // Act
    const res = await handler(sqsEvent([claimPointer(pointer), envelope(1, { id: 'c2', status: 'active' })]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const sent = publisher.bodies<ChangeEnvelope>(RESOLVE);
    expect(sent.map((e) => e.key).sort()).toEqual(['c1', 'c2']);
    expect(sent.find((e) => e.key === 'c1')!.data!.bio).toHaveLength(300 * KB);
  });

  it('fails only the message whose pointer cannot be read; its batch-mates go on', async () => {
    // Prepare: the bucket refuses the read (a key policy, throttling).
    const pointer = await payloads.put(JSON.stringify(envelope(0, { id: 'c1', status: 'active' })));
    payloads.get = async () => {
      throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    };

    // Act
    const res = await handler(sqsEvent([claimPointer(pointer), envelope(1, { id: 'c2', status: 'active' })]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE).map((e) => e.key)).toEqual(['c2']);
    expect(payloads.objects.has(pointer)).toBe(true);
  });

  it('acknowledges a repeat delivery whose payload was consumed already, instead of failing it into the DLQ', async () => {
    // Prepare: the message was handled and its payload deleted; the runtime was killed before the message was.
    const pointer = await payloads.put(JSON.stringify(envelope(0, { id: 'c1', status: 'active' })));
    await handler(sqsEvent([claimPointer(pointer)]));
    const sentFirst = publisher.bodies<ChangeEnvelope>(RESOLVE).length;

    // Act
    const again = await handler(sqsEvent([claimPointer(pointer), envelope(1, { id: 'c2', status: 'active' })], 'again-'));
    const last = await handler(sqsEvent([envelope(2, { id: 'c3', status: 'active' }), claimPointer(pointer)], 'last-'));

    // Assess: nothing failed, nothing sent twice; the batch-mates went on, before or after it.
    expect(sentFirst).toBe(1);
    expect([again.batchItemFailures, last.batchItemFailures]).toEqual([[], []]);
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE).map((e) => e.key)).toEqual(['c1', 'c2', 'c3']);
    expect(await quarantined()).toEqual([]);
  });

  it('fails a message whose payload is gone when the lifecycle rule may have expired it (a message redriven again)', async () => {
    // Prepare: a pointer written 31 days ago; its object is gone.
    const day = new Date(Date.now() - 31 * 86_400_000).toISOString().slice(0, 10);
    const pointer = `claims/${day}/${'a'.repeat(64)}.0123456789abcdef.json`;

    // Act
    const res = await handler(sqsEvent([claimPointer(pointer)]));

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
  });
});

describe('consumed claim-check payloads are deleted', () => {
  it('deletes the payload of each message that succeeded and keeps the one of a failed message for its retries', async () => {
    // Prepare: three claimed messages; the handler fails the second.
    const payloads = new InMemoryPayloadStore();
    const pointers = [await payloads.put('{"v":1,"n":0}'), await payloads.put('{"v":1,"n":1}'), await payloads.put('{"v":1,"n":2}')];
    const seen: string[] = [];
    const handler = withClaimChecks(async (event) => {
      seen.push(...event.Records.map((r) => r.body));
      return { batchItemFailures: [{ itemIdentifier: event.Records[1]!.messageId }] };
    }, payloads);

    // Act
    const res = await handler(sqsEvent(pointers.map((p) => claimPointer(p))));

    // Assess
    expect(seen).toEqual(['{"v":1,"n":0}', '{"v":1,"n":1}', '{"v":1,"n":2}']);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect([...payloads.objects.keys()]).toEqual([pointers[1]]);
  });

  it('deletes nothing when the handler throws (the whole batch is retried)', async () => {
    // Prepare
    const payloads = new InMemoryPayloadStore();
    const pointer = await payloads.put('{"v":1}');
    const handler = withClaimChecks(async () => {
      throw new Error('boom');
    }, payloads);

    // Act + Assess
    await expect(handler(sqsEvent([claimPointer(pointer)]))).rejects.toThrow('boom');
    expect(payloads.objects.has(pointer)).toBe(true);
  });

  it('answers the batch even when a delete fails, and logs it without the payload', async () => {
    // Prepare
    const payloads = new InMemoryPayloadStore();
    const pointer = await payloads.put('{"v":1,"secret":"raw"}');
    payloads.delete = async () => {
      throw new Error('AccessDenied');
    };
    const logger = new RecordingLogger();
    const handler = withClaimChecks(async () => ({ batchItemFailures: [] }), payloads, logger);

    // Act
    const res = await handler(sqsEvent([claimPointer(pointer)]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(JSON.stringify(logger.lines)).toContain('could not be deleted');
    expect(JSON.stringify(logger.lines)).not.toContain('raw');
  });
});

describe('webhook capture of large records', () => {
  const QUEUE = 'https://sqs.local/contacts-transform';
  const flow = { ...contactsFlow, sources: contactsFlow.sources.map((s) => (s.type === 'webhook' ? { ...s, maxBodyBytes: 6_000_000 } : s)) };
  function request(body: string): APIGatewayProxyEventV2 {
    const at = new Date();
    const headers = { 'webhook-id': 'msg_big', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(WEBHOOK_SECRET).sign('msg_big', at, body) };
    const path = '/webhooks/contacts/crm';
    return { version: '2.0', rawPath: path, headers, requestContext: { http: { method: 'POST', path } }, body, isBase64Encoded: false } as unknown as APIGatewayProxyEventV2;
  }

  it('sends a 300 KB record on (the publisher claim-checks it) and quarantines one over the hard cap', async () => {
    // Prepare
    const { publisher, quarantine, dedup, audit, clock } = fakeStepContext();
    const handler = createWebhookCaptureHandler({
      flow,
      secrets: new FakeSecrets({ 'secret/crm': WEBHOOK_SECRET }),
      webhookSecrets: { crm: 'secret/crm' },
      transformQueueUrl: QUEUE,
      publisher,
      dedup,
      audit,
      quarantine,
      clock,
    });
    const record = (id: string, size: number) => ({ id, updatedAt: '2026-01-15T10:00:00Z', bio: 'z'.repeat(size) });

    // Act
    const res = await handler(request(JSON.stringify([record('c1', 300 * KB), record('c2', MAX_RECORD_BYTES)])));

    // Assess
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body!)).toEqual({ accepted: 1, duplicates: 0, quarantined: 1 });
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data!.id)).toEqual(['c1']);
    const [item] = (await quarantine.list('contacts')).items;
    expect(item!.reason).toMatch(/larger than 4194304 bytes/);
  });
});

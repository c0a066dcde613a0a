import 'aws-sdk-client-mock-vitest/extend';
import { ChangeMessageVisibilityBatchCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SqsPublisher } from '../../../functions/adapters/sqs-publisher';
import { claimOf, MAX_INLINE_BYTES } from '../../../functions/core/claim-check';
import { unpackBody } from '../../../functions/core/packing';

const sqs = mockClient(SQSClient);
const client = new SQSClient({ region: 'us-east-1' });
const noWait = { sleep: async () => {}, baseDelayMs: 1 };
const URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/contacts-transform';
const messages = (n: number, size = 10) => Array.from({ length: n }, (_, i) => ({ id: `msg-${i}`, body: 'x'.repeat(size) }));

describe('SqsPublisher', () => {
  beforeEach(() => sqs.reset());

  it('packs ten messages to an SQS message for a queue that takes packs, and fails every message of a pack that fails', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: 'm1', SenderFault: true, Code: 'InvalidParameterValue' }] });
    const publisher = new SqsPublisher({ client, retry: noWait, packs: (url) => url === URL });

    // Act
    const result = await publisher.send(URL, messages(23));

    // Assess: one call of three packs; the second pack (msg-10 to msg-19) failed.
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
    const bodies = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries!.map((e) => e.MessageBody!);
    expect(bodies.map((b) => unpackBody(b)?.length)).toEqual([10, 10, 3]);
    expect(result.failed).toEqual(Array.from({ length: 10 }, (_, i) => `msg-${10 + i}`));
  });

  it('holds received messages back by their visibility, ten to a call, past half the queue\'s own visibility and at most 11 hours', async () => {
    // Prepare: a queue whose visibility timeout is three minutes; SQS refuses one entry.
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { VisibilityTimeout: '180' } });
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    sqs.on(ChangeMessageVisibilityBatchCommand, { Entries: [{ Id: 'h0', ReceiptHandle: 'rh-10', VisibilityTimeout: 3601 }, { Id: 'h1', ReceiptHandle: 'rh-11', VisibilityTimeout: 3601 }] }).resolves({
      Successful: [{ Id: 'h1' }],
      Failed: [{ Id: 'h0', Code: 'ReceiptHandleIsInvalid', SenderFault: true }],
    });
    const publisher = new SqsPublisher({ client, retry: noWait });
    const handles = Array.from({ length: 12 }, (_, i) => `rh-${i}`);

    // Act
    const within = await publisher.hold(URL, handles, 90);
    const held = await publisher.hold(URL, handles, 3600.2);
    await publisher.hold(URL, handles.slice(0, 1), 7 * 24 * 3600);

    // Assess: the 90 s hold needs no call (an invocation has used at most 30 s of the queue's 180); the timeout is read once.
    expect(within).toEqual([]);
    expect(sqs).toHaveReceivedCommandTimes(GetQueueAttributesCommand, 1);
    const calls = sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((c) => c.args[0].input.Entries!.map((e) => [e.ReceiptHandle, e.VisibilityTimeout]));
    expect(calls).toEqual([handles.slice(0, 10).map((h) => [h, 3601]), handles.slice(10).map((h) => [h, 3601]), [['rh-0', 11 * 3600]]]);
    expect(held).toEqual(['rh-11']);
  });

  it('answers only the handles of calls that went through when one call fails', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { VisibilityTimeout: '2' } });
    sqs.on(ChangeMessageVisibilityBatchCommand).resolvesOnce({ Successful: Array.from({ length: 10 }, (_, j) => ({ Id: `h${j}` })) }).rejectsOnce(new Error('throttled'));
    const publisher = new SqsPublisher({ client, retry: noWait });
    const handles = Array.from({ length: 12 }, (_, i) => `rh-${i}`);

    // Act
    const held = await publisher.hold(URL, handles, 60);

    // Assess
    expect(held).toEqual(handles.slice(0, 10));
  });

  it('sends messages delayed, at most the 15 minutes SQS allows', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const publisher = new SqsPublisher({ client, retry: noWait });

    // Act
    await publisher.send(URL, messages(2), { delaySeconds: 59.5 });
    await publisher.send(URL, messages(1), { delaySeconds: 3600 });
    await publisher.send(URL, messages(1));

    // Assess
    const delays = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries!.map((e) => e.DelaySeconds));
    expect(delays).toEqual([[60, 60], [900], [undefined]]);
  });

  it('sends a claim-check pointer alone, outside the packs, so its consumer finds it as one SQS message', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const stored: string[] = [];
    const payloads = { put: async (body: string) => `s3://claims/${stored.push(body)}`, get: async () => '', delete: async () => {} };
    const publisher = new SqsPublisher({ client, retry: noWait, packs: (url) => url === URL, payloads });
    const large = { id: 'big', body: 'y'.repeat(MAX_INLINE_BYTES + 1) };

    // Act
    const result = await publisher.send(URL, [...messages(2), large, ...messages(2).map((m) => ({ ...m, id: `${m.id}b` }))]);

    // Assess: one pack of the four small messages, and the pointer as a message of its own.
    expect(result.failed).toEqual([]);
    const bodies = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!.map((e) => e.MessageBody!));
    expect(bodies).toHaveLength(2);
    expect(unpackBody(bodies[0]!)).toHaveLength(4);
    expect(claimOf(bodies[1]!)).toBeDefined();
    expect(stored).toEqual([large.body]);
  });

  it('sends one message per SQS message to other queues, and when asked for single messages', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const publisher = new SqsPublisher({ client, retry: noWait, packs: (url) => url === URL });

    // Act
    await publisher.send(`${URL}-dlq`, messages(3));
    await publisher.send(URL, messages(3), { single: true });

    // Assess
    const bodies = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!.map((e) => e.MessageBody!));
    expect(bodies).toEqual(Array(6).fill('x'.repeat(10)));
  });

  it('sends in batches of 10 entries', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const publisher = new SqsPublisher({ client, retry: noWait });

    // Act
    const result = await publisher.send(URL, messages(23));

    // Assess
    expect(result.failed).toEqual([]);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 3);
    expect(sqs).toHaveReceivedNthCommandWith(SendMessageBatchCommand, 3, {
      QueueUrl: URL,
      Entries: [
        { Id: 'm0', MessageBody: 'x'.repeat(10) },
        { Id: 'm1', MessageBody: 'x'.repeat(10) },
        { Id: 'm2', MessageBody: 'x'.repeat(10) },
      ],
    });
  });

  it('keeps each batch under 256 KB and reports a single oversized message as failed', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({});
    const publisher = new SqsPublisher({ client, retry: noWait });
    const big = messages(3, 100 * 1024);

    // Act
    const result = await publisher.send(URL, [...big, { id: 'huge', body: 'y'.repeat(300 * 1024) }]);

    // Assess
    expect(result.failed).toEqual(['huge']);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 2);
  });

  it('retries Failed entries that are not sender faults and maps ids back', async () => {
    // Prepare
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: 'm0', MessageId: '1', MD5OfMessageBody: '' }],
        Failed: [
          { Id: 'm1', SenderFault: false, Code: 'InternalError' },
          { Id: 'm2', SenderFault: true, Code: 'InvalidMessageContents' },
        ],
      })
      .resolves({});
    const publisher = new SqsPublisher({ client, retry: noWait });

    // Act
    const result = await publisher.send(URL, messages(3));

    // Assess
    expect(result.failed).toEqual(['msg-2']);
    expect(sqs).toHaveReceivedNthCommandWith(SendMessageBatchCommand, 2, { Entries: [{ Id: 'm1', MessageBody: 'x'.repeat(10) }] });
  });

  it('retries Failed entries for bounded attempts and returns the ids that still failed', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).resolves({ Failed: [{ Id: 'm0', SenderFault: false, Code: 'ServiceUnavailable' }] });
    const publisher = new SqsPublisher({ client, retry: { ...noWait, maxAttempts: 3 } });

    // Act
    const result = await publisher.send(URL, messages(2));

    // Assess
    expect(result.failed).toEqual(['msg-0']);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 3);
  });

  it('leaves throttling of the call to the SDK client: one SendMessageBatch from the publisher, then the error', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error('slow'), { name: 'ThrottlingException' }));
    const publisher = new SqsPublisher({ client, retry: { ...noWait, maxAttempts: 3 } });

    // Act / Assess
    await expect(publisher.send(URL, messages(2))).rejects.toThrow('slow');
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
  });

  it('throws errors that retrying cannot fix', async () => {
    // Prepare
    sqs.on(SendMessageBatchCommand).rejects(Object.assign(new Error('no queue'), { name: 'QueueDoesNotExist', $metadata: { httpStatusCode: 400 } }));
    const publisher = new SqsPublisher({ client, retry: noWait });

    // Act / Assess
    await expect(publisher.send(URL, messages(1))).rejects.toThrow('no queue');
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
  });
});

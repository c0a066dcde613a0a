import { afterAll, describe, expect, it } from 'vitest';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { ensureQueue } from '../../lib/local/resources';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { pollerAwarePublisher, SqsPoller, succeededRecords } from '../../lib/local/sqs-poller';
import { integrationClients, uniqueSuffix, waitFor } from '../support/local-servers';

describe('SqsPoller (event source mapping emulation) against fauxqs', () => {
  const clients = integrationClients();
  afterAll(() => clients.destroy());

  it('hands Lambda-shaped batches to the handler, deletes successes, and moves a poison message to the DLQ', async () => {
    // Prepare
    const name = `it-${uniqueSuffix()}-poll`;
    const dlq = await ensureQueue(clients.sqs, `${name}-dlq`, {});
    const queue = await ensureQueue(clients.sqs, name, { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }) });
    const events: SQSEvent[] = [];
    const handled = new Map<string, number>();
    const poller = new SqsPoller({
      sqs: clients.sqs,
      name: 'it-poller',
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: 'us-east-1',
      batchSize: 25,
      maxBatchingWindowSeconds: 1,
      log: () => undefined,
      handler: async (event) => {
        events.push(event);
        for (const r of event.Records) handled.set(r.body, (handled.get(r.body) ?? 0) + 1);
        return { batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    const bodies = [...Array.from({ length: 19 }, (_, i) => `ok-${i}`), 'poison'];
    for (let i = 0; i < bodies.length; i += 10) {
      await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })) }));
    }

    // Act
    poller.start();
    try {
      await waitFor(async () => {
        const a = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
        return Number(a.Attributes?.ApproximateNumberOfMessages) === 1 ? true : undefined;
      }, 'poison message in the DLQ');
      await waitFor(async () => ((await poller.idle()) ? true : undefined), 'queue drained');
    } finally {
      await poller.stop();
    }

    // Assess
    const first = events[0]!;
    expect(first.Records.length).toBeGreaterThan(10);
    expect(first.Records[0]).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d+$/) },
      md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    for (const b of bodies.filter((x) => x !== 'poison')) expect(handled.get(b)).toBe(1);
    expect(handled.get('poison')).toBe(2);
    const inDlq = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10 }));
    expect(inDlq.Messages?.map((m) => m.Body)).toEqual(['poison']);
  });

  it('runs several batches at once, never more than maxConcurrency, and hands each message over once', async () => {
    // Prepare
    const name = `it-${uniqueSuffix()}-conc`;
    const dlq = await ensureQueue(clients.sqs, `${name}-dlq`, {});
    const queue = await ensureQueue(clients.sqs, name, { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }) });
    const handled = new Map<string, number>();
    let running = 0;
    let most = 0;
    const poller = new SqsPoller({
      sqs: clients.sqs,
      name: 'it-poller-conc',
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: 'us-east-1',
      batchSize: 5,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: 3,
      log: () => undefined,
      // Slower than the queue's visibility timeout: the batches in the handler must not be received again.
      handler: async (event) => {
        most = Math.max(most, ++running);
        for (const r of event.Records) handled.set(r.body, (handled.get(r.body) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 1500));
        running--;
      },
    });
    const bodies = Array.from({ length: 30 }, (_, i) => `m-${i}`);
    for (let i = 0; i < bodies.length; i += 10) {
      await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })) }));
    }

    // Act
    poller.start();
    try {
      await waitFor(async () => (handled.size === bodies.length && (await poller.idle()) ? true : undefined), 'queue drained');
    } finally {
      await poller.stop();
    }

    // Assess
    expect(most).toBe(3);
    for (const b of bodies) expect(handled.get(b)).toBe(1);
    const inDlq = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    expect(inDlq.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });

  it('leaves a failed message the function held back hidden for the hold, where it would show a failed one after the queue\'s timeout', async () => {
    // Prepare: a one-second queue; the function fails both messages and holds "held" back four seconds (a 429's Retry-After).
    const name = `it-${uniqueSuffix()}-hold`;
    const dlq = await ensureQueue(clients.sqs, `${name}-dlq`, {});
    const queue = await ensureQueue(clients.sqs, name, { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 5 }) });
    const held = new Set<string>();
    const publisher = pollerAwarePublisher(new SqsPublisher({ client: clients.sqs }), held);
    const seen: Record<string, number[]> = { held: [], plain: [] };
    const poller = new SqsPoller({
      sqs: clients.sqs,
      name: 'it-poller-hold',
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: 'us-east-1',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      held,
      log: () => undefined,
      handler: async (event) => {
        for (const r of event.Records) seen[r.body]!.push(Date.now());
        const first = event.Records.filter((r) => r.body === 'held' && seen.held!.length === 1);
        await publisher.hold!(queue.url, first.map((r) => r.receiptHandle), 4);
        return { batchItemFailures: event.Records.filter((r) => seen[r.body]!.length < 2).map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: ['held', 'plain'].map((b, j) => ({ Id: String(j), MessageBody: b })) }));

    // Act
    poller.start();
    try {
      await waitFor(async () => (seen.held!.length === 2 && (await poller.idle()) ? true : undefined), 'held message handled again');
    } finally {
      await poller.stop();
    }

    // Assess: the plain one came back after about a second, the held one not before its four.
    expect(seen.plain![1]! - seen.plain![0]!).toBeLessThan(3500);
    expect(seen.held![1]! - seen.held![0]!).toBeGreaterThanOrEqual(3900);
    expect(held.size).toBe(0);
  });

  it('applies Lambda rules to batch responses', () => {
    const records = ['a', 'b', 'c'].map((id) => ({ messageId: id }) as never);
    expect(succeededRecords(records, undefined)).toHaveLength(3);
    expect(succeededRecords(records, { batchItemFailures: [] })).toHaveLength(3);
    expect(succeededRecords(records, { batchItemFailures: [{ itemIdentifier: 'b' }] }).map((r) => r.messageId)).toEqual(['a', 'c']);
    // An identifier that is not in the batch fails the whole batch.
    expect(succeededRecords(records, { batchItemFailures: [{ itemIdentifier: 'zzz' }] })).toEqual([]);
  });
});

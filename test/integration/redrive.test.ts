import { afterAll, describe, expect, it } from 'vitest';
import { ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { SqsQueueDepths } from '../../functions/adapters/sqs-queue-depths';
import { redriveFlow } from '../../lib/local/redrive';
import { ensureQueue, type QueueResource } from '../../lib/local/resources';
import { integrationClients, uniqueSuffix } from '../support/local-servers';

describe('local redrive in chunks against fauxqs', () => {
  const clients = integrationClients();
  afterAll(() => clients.destroy());

  /** A queue with its DLQ holding `parked` messages. */
  async function queueWithParked(id: string, parked: number): Promise<QueueResource> {
    const name = `it-${uniqueSuffix()}-${id}`;
    const dlq = await ensureQueue(clients.sqs, `${name}-dlq`, {});
    const queue = await ensureQueue(clients.sqs, name, { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 5 }) });
    for (let i = 0; i < parked; i += 10) {
      const n = Math.min(10, parked - i);
      await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: dlq.url, Entries: Array.from({ length: n }, (_, j) => ({ Id: String(j), MessageBody: `${id}-${i + j}` })) }));
    }
    return { id, name, url: queue.url, arn: queue.arn, maxReceiveCount: 5, visibilityTimeoutSeconds: 30, dlq: { name: `${name}-dlq`, url: dlq.url, arn: dlq.arn } };
  }

  async function drain(url: string): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const got = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }));
      if (!got.Messages?.length) return bodies;
      bodies.push(...got.Messages.map((m) => m.Body!));
    }
  }

  it('moves at most max messages per request, reports what remains, and empties the DLQs over a loop', async () => {
    // Prepare: 7 parked transform messages, 5 parked delivery messages.
    const queues = { transform: await queueWithParked('transform', 7), 'deliver-replica': await queueWithParked('deliver-replica', 5) };
    const depths = new SqsQueueDepths(clients.sqs);
    const redrive = (body: unknown) => redriveFlow({ flowId: 'orders', queues, body, sqs: clients.sqs, depths });

    // Act: chunks of 4, as a CLI with a progress bar would loop.
    const answers = [];
    for (let i = 0; i < 5; i++) {
      const answer = await redrive({ max: 4 });
      answers.push(answer.body as { moved: Record<string, number>; total: number; remaining: Record<string, number> });
      if (Object.values(answers[i]!.remaining).every((n) => n === 0)) break;
    }

    // Assess
    expect(answers).toEqual([
      { flow: 'orders', moved: { transform: 4, 'deliver-replica': 0 }, total: 4, remaining: { transform: 3, 'deliver-replica': 5 } },
      { flow: 'orders', moved: { transform: 3, 'deliver-replica': 1 }, total: 4, remaining: { transform: 0, 'deliver-replica': 4 } },
      { flow: 'orders', moved: { transform: 0, 'deliver-replica': 4 }, total: 4, remaining: { transform: 0, 'deliver-replica': 0 } },
    ]);
    expect((await drain(queues.transform.url)).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `transform-${i}`).sort());
    expect(await drain(queues['deliver-replica'].url)).toHaveLength(5);
  });

  it('moves everything of one step without a max, and refuses a bad body with 400', async () => {
    // Prepare
    const queues = { transform: await queueWithParked('transform', 12), resolve: await queueWithParked('resolve', 2) };
    const depths = new SqsQueueDepths(clients.sqs);
    const redrive = (body: unknown) => redriveFlow({ flowId: 'orders', queues, body, sqs: clients.sqs, depths });

    // Act
    const bad = await Promise.all([{ max: 0 }, { max: 2.5 }, { max: '3' }, { step: 'nope' }, ['transform']].map(redrive));
    const one = await redrive({ step: 'transform' });
    const rest = await redrive(undefined);

    // Assess
    expect(bad.map((a) => a.status)).toEqual([400, 400, 400, 400, 400]);
    expect((bad[3]!.body as { message: string }).message).toBe('step must be one of transform, resolve');
    expect(one.body).toEqual({ flow: 'orders', moved: { transform: 12 }, total: 12, remaining: { transform: 0 } });
    expect(rest.body).toEqual({ flow: 'orders', moved: { transform: 0, resolve: 2 }, total: 2, remaining: { transform: 0, resolve: 0 } });
  });
});

import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AdminAnswer } from '../../functions/handlers/admin-api';
import type { QueueDepths } from '../../functions/ports';
import type { QueueResource } from './resources';

/**
 * Moves up to `maxMessages` messages of a DLQ back to its queue, as SQS StartMessageMoveTask does in AWS: receive,
 * send (body and attributes kept), then delete only what was sent. Never receives more than it may move.
 */
export async function redriveQueue(sqs: SQSClient, dlqUrl: string, queueUrl: string, maxMessages = 100_000): Promise<number> {
  let moved = 0;
  while (moved < maxMessages) {
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: Math.min(10, maxMessages - moved), WaitTimeSeconds: 0, VisibilityTimeout: 30, MessageAttributeNames: ['All'] }),
    );
    const messages = got.Messages ?? [];
    if (messages.length === 0) break;
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), MessageBody: m.Body!, ...(m.MessageAttributes ? { MessageAttributes: m.MessageAttributes } : {}) })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((s) => Number(s.Id)));
    const done = messages.filter((_, i) => ok.has(i));
    if (done.length > 0) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: dlqUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    moved += done.length;
    // What could not be sent stays in the DLQ and becomes visible again; stop rather than spin on it.
    if (done.length < messages.length) break;
  }
  return moved;
}

/** Most messages one redrive request moves when the body gives no `max`. */
const MOVE_ALL = 100_000;

export interface RedriveFlowRequest {
  readonly flowId: string;
  readonly queues: Readonly<Record<string, QueueResource>>;
  /** `{"step"?: queue id, "max"?: positive integer}`, or undefined (every queue, every message). */
  readonly body: unknown;
  readonly sqs: SQSClient;
  readonly depths: QueueDepths;
}

/**
 * `POST /flows/{flowId}/redrive`: moves DLQ messages back to their queues, at most `max` in all (queue by queue,
 * in the flow's order), and answers what moved and what is left in each DLQ, so a client can loop in chunks.
 */
export async function redriveFlow({ flowId, queues, body, sqs, depths }: RedriveFlowRequest): Promise<AdminAnswer> {
  const usage = `the body must be empty or {"step"?: one of ${Object.keys(queues).join(', ')}, "max"?: a positive integer}`;
  if (body !== undefined && (!body || typeof body !== 'object' || Array.isArray(body))) return { status: 400, body: { message: usage } };
  const { step, max } = (body ?? {}) as { step?: unknown; max?: unknown };
  if (step !== undefined && (typeof step !== 'string' || !Object.hasOwn(queues, step))) {
    return { status: 400, body: { message: `step must be one of ${Object.keys(queues).join(', ')}` } };
  }
  if (max !== undefined && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)) return { status: 400, body: { message: 'max must be a positive integer' } };
  const chosen = Object.entries(queues).filter(([id]) => step === undefined || id === step);
  let budget = (max as number | undefined) ?? MOVE_ALL;
  const moved: Record<string, number> = {};
  for (const [id, q] of chosen) {
    moved[id] = budget > 0 ? await redriveQueue(sqs, q.dlq.url, q.url, budget) : 0;
    budget -= moved[id];
  }
  const remaining: Record<string, number> = {};
  for (const [id, q] of chosen) remaining[id] = (await depths.depth(q.dlq.url)).total;
  return { status: 200, body: { flow: flowId, moved, total: Object.values(moved).reduce((a, b) => a + b, 0), remaining } };
}

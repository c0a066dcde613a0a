import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * Moves every message of a DLQ back to its queue, as SQS StartMessageMoveTask does in AWS: receive, send
 * (body and attributes kept), then delete only what was sent. Bounded by the messages present at the start.
 */
export async function redriveQueue(sqs: SQSClient, dlqUrl: string, queueUrl: string, maxMessages = 100_000): Promise<number> {
  let moved = 0;
  while (moved < maxMessages) {
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30, MessageAttributeNames: ['All'] }),
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

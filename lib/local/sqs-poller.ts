import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { messageOf } from '../../functions/core/errors';

/** What an SQS-triggered function exports: Lambda calls it with a batch and reads `batchItemFailures`. */
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void | null | undefined>;

export interface SqsPollerOptions {
  readonly sqs: SQSClient;
  /** Function name, for logs and the Lambda context. */
  readonly name: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  readonly timeoutSeconds?: number;
  readonly handler: SqsHandler;
  /** How long one ReceiveMessage waits for a message (bounded so stop() and visibility expiry are noticed fast). @default 1 */
  readonly waitTimeSeconds?: number;
  readonly log?: (line: string) => void;
}

/** A fake Lambda context with the fields handlers and Powertools read. */
export function lambdaContext(functionName: string, timeoutSeconds = 30): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function toLambdaAttributes(attrs: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, a] of Object.entries(attrs ?? {})) {
    out[name] = {
      ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
      ...(a.BinaryValue !== undefined ? { binaryValue: Buffer.from(a.BinaryValue).toString('base64') } : {}),
      stringListValues: a.StringListValues ?? [],
      binaryListValues: (a.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      dataType: (a.DataType ?? 'String') as SQSMessageAttributes[string]['dataType'],
    };
  }
  return out;
}

/** A ReceiveMessage result as Lambda's event source mapping hands it to the function. */
export function toSqsRecord(m: Message, queueArn: string, region: string): SQSRecord {
  const a = m.Attributes ?? {};
  const now = String(Date.now());
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? now,
      SenderId: a.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? now,
      ...(a.AWSTraceHeader ? { AWSTraceHeader: a.AWSTraceHeader } : {}),
    },
    messageAttributes: toLambdaAttributes(m.MessageAttributes),
    md5OfBody: m.MD5OfBody ?? '',
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * Which records of a batch succeeded, with Lambda's rules for `reportBatchItemFailures`:
 * no response or an empty list = all; an identifier that is not in the batch = none.
 */
export function succeededRecords(records: readonly SQSRecord[], response: SQSBatchResponse | void | null | undefined): SQSRecord[] {
  const failures = response?.batchItemFailures;
  if (!failures || failures.length === 0) return [...records];
  const ids = new Set(records.map((r) => r.messageId));
  const failed = new Set<string>();
  for (const f of failures) {
    if (!f || typeof f.itemIdentifier !== 'string' || !ids.has(f.itemIdentifier)) return [];
    failed.add(f.itemIdentifier);
  }
  return records.filter((r) => !failed.has(r.messageId));
}

const isAbort = (err: unknown) => (err as { name?: string })?.name === 'AbortError' || (err as { name?: string })?.name === 'TimeoutError';

/**
 * Emulates a Lambda event source mapping on one queue: long-polls, batches up to `batchSize` within the
 * batching window, invokes the handler, deletes only the successes. Failures reappear after the queue's
 * visibility timeout and move to the DLQ after maxReceiveCount receives (the queue's RedrivePolicy).
 * One batch in flight at a time.
 */
export class SqsPoller {
  private running = false;
  private loop: Promise<void> | undefined;
  private abort = new AbortController();
  private inFlight = 0;

  constructor(private readonly options: SqsPollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Stops polling; waits for the batch in flight to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  /** No batch in the handler right now. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Messages in the queue, visible, in flight or delayed. */
  async pending(): Promise<number> {
    const { Attributes: a = {} } = await this.options.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.options.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
  }

  /** Nothing in the queue and nothing in the handler. */
  async idle(): Promise<boolean> {
    return !this.busy && (await this.pending()) === 0;
  }

  private log(line: string): void {
    (this.options.log ?? ((l) => console.error(l)))(line);
  }

  private async receive(max: number, waitTimeSeconds: number): Promise<Message[]> {
    const out = await this.options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: this.abort.signal },
    );
    return out.Messages ?? [];
  }

  private async run(): Promise<void> {
    const { batchSize, maxBatchingWindowSeconds } = this.options;
    const wait = this.options.waitTimeSeconds ?? 1;
    while (this.running) {
      let batch: Message[];
      try {
        batch = await this.receive(batchSize, wait);
        if (batch.length === 0) continue;
        // Fill the batch while messages are there, within the batching window.
        const windowEnd = Date.now() + maxBatchingWindowSeconds * 1000;
        while (this.running && batch.length < batchSize && Date.now() < windowEnd) {
          const more = await this.receive(batchSize - batch.length, 0);
          if (more.length === 0) break;
          batch.push(...more);
        }
      } catch (err) {
        if (!this.running || isAbort(err)) break;
        this.log(`[${this.options.name}] ReceiveMessage failed: ${messageOf(err)}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      await this.invoke(batch);
    }
  }

  private async invoke(batch: Message[]): Promise<void> {
    const { name, queueArn, region, handler } = this.options;
    const records = batch.map((m) => toSqsRecord(m, queueArn, region));
    this.inFlight++;
    try {
      let succeeded: SQSRecord[];
      try {
        const response = await handler({ Records: records }, lambdaContext(name, this.options.timeoutSeconds));
        succeeded = succeededRecords(records, response);
        if (succeeded.length < records.length) this.log(`[${name}] ${records.length - succeeded.length} of ${records.length} messages failed; retried after the visibility timeout`);
      } catch (err) {
        // A thrown error fails the whole batch, as in Lambda.
        this.log(`[${name}] handler failed, batch of ${records.length} retried after the visibility timeout: ${messageOf(err)}`);
        succeeded = [];
      }
      await this.delete(succeeded);
    } finally {
      this.inFlight--;
    }
  }

  private async delete(records: readonly SQSRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 10) {
      const part = records.slice(i, i + 10);
      try {
        const out = await this.options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.options.queueUrl,
            Entries: part.map((r, j) => ({ Id: String(j), ReceiptHandle: r.receiptHandle })),
          }),
        );
        if (out.Failed?.length) this.log(`[${this.options.name}] DeleteMessageBatch: ${out.Failed.length} entries failed (${out.Failed[0]?.Message ?? ''})`);
      } catch (err) {
        this.log(`[${this.options.name}] DeleteMessageBatch failed: ${messageOf(err)}`);
      }
    }
  }
}

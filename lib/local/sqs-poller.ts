import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { messageOf } from '../../functions/core/errors';
import { chunk } from '../../functions/core/chunk';
import type { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import type { Publisher } from '../../functions/ports';

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
  /** Most batches in the handler at once: the mapping's `MaximumConcurrency` where it has one. @default 5 */
  readonly maxConcurrency?: number;
  /**
   * Receipt handles whose visibility a function changed itself (ChangeMessageVisibility): Lambda leaves a failed
   * message's visibility alone, so the poller does not shorten theirs (it takes each handle out once seen).
   */
  readonly held?: Set<string>;
  readonly log?: (line: string) => void;
}

/** A publisher whose holds the pollers given `held` see: they leave those messages' visibility as the function set it. */
export function pollerAwarePublisher(publisher: SqsPublisher, held: Set<string>): Publisher {
  return {
    send: (queueUrl, messages, options) => publisher.send(queueUrl, messages, options),
    hold: async (queueUrl, handles, seconds) => {
      const changed = await publisher.hold(queueUrl, handles, seconds);
      for (const h of changed) held.add(h);
      return changed;
    },
  };
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

/** Lambda starts five concurrent batches on a standard queue (docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html). */
export const DEFAULT_SQS_CONCURRENCY = 5;
const RECEIVE_MAX = 10;
/** How long one ReceiveMessage waits for a message (bounded so stop() is noticed fast). */
const WAIT_TIME_SECONDS = 1;

interface Batch {
  readonly messages: Message[];
  readonly receivedAt: number;
}

/**
 * Emulates a Lambda event source mapping on one queue: long-polls, batches up to `batchSize` within the
 * batching window, runs up to `maxConcurrency` batches at once, deletes only the successes. Failures reappear
 * after the queue's visibility timeout and move to the DLQ after maxReceiveCount receives (the queue's
 * RedrivePolicy). Messages are received with the function's timeout as their visibility, as a queue set up for
 * Lambda has it, so a batch still in the handler is not received again by the next one.
 */
export class SqsPoller {
  private running = false;
  private loop: Promise<void> | undefined;
  private abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private queueVisibility: number | undefined;

  constructor(private readonly options: SqsPollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Stops polling; waits for the batches in flight to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  /** A batch is in the handler right now. */
  get busy(): boolean {
    return this.inFlight.size > 0;
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

  /** Only the long poll is aborted on stop: a short receive returns at once and its messages are handled. */
  private async receive(max: number, waitTimeSeconds: number): Promise<Message[]> {
    const out = await this.options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: Math.min(RECEIVE_MAX, max),
        WaitTimeSeconds: waitTimeSeconds,
        VisibilityTimeout: this.options.timeoutSeconds ?? 30,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      waitTimeSeconds > 0 ? { abortSignal: this.abort.signal } : {},
    );
    return out.Messages ?? [];
  }

  /**
   * One batch: a long poll, then more receives within the batching window. While the queue answers in full, each
   * round doubles the receives sent at once (a batch of 100 takes 4 round trips, not 10). Once it is drained, an
   * idle function gets what is there at once; a busy one waits out the window for a fuller batch, as Lambda does.
   */
  private async gather(): Promise<Batch> {
    const { batchSize, maxBatchingWindowSeconds } = this.options;
    const receivedAt = Date.now();
    const messages = await this.receive(batchSize, WAIT_TIME_SECONDS);
    const windowEnd = Date.now() + maxBatchingWindowSeconds * 1000;
    let full = messages.length === Math.min(RECEIVE_MAX, batchSize);
    let width = 1;
    while (messages.length > 0 && messages.length < batchSize && this.running && Date.now() < windowEnd) {
      if (!full && this.inFlight.size === 0) break;
      width = full ? width * 2 : 1;
      const wanted = batchSize - messages.length;
      const sizes = Array.from({ length: Math.min(width, Math.ceil(wanted / RECEIVE_MAX)) }, (_, i) => Math.min(RECEIVE_MAX, wanted - i * RECEIVE_MAX));
      let answers: Message[][];
      try {
        answers = await Promise.all(sizes.map((n) => this.receive(n, full ? 0 : 1)));
      } catch (err) {
        // Stopped during the wait: hand over what was received.
        if (isAbort(err)) break;
        throw err;
      }
      for (const a of answers) messages.push(...a);
      full = answers.every((a, i) => a.length === sizes[i]);
    }
    return { messages, receivedAt };
  }

  private async run(): Promise<void> {
    const limit = Math.max(1, this.options.maxConcurrency ?? DEFAULT_SQS_CONCURRENCY);
    while (this.running) {
      if (this.inFlight.size >= limit) {
        await Promise.race(this.inFlight);
        continue;
      }
      let batch: Batch;
      try {
        batch = await this.gather();
      } catch (err) {
        if (!this.running || isAbort(err)) break;
        this.log(`[${this.options.name}] ReceiveMessage failed: ${messageOf(err)}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (batch.messages.length === 0) continue;
      const done: Promise<void> = this.invoke(batch).finally(() => this.inFlight.delete(done));
      this.inFlight.add(done);
    }
    await Promise.all(this.inFlight);
  }

  private async invoke(batch: Batch): Promise<void> {
    const { name, queueArn, region, handler } = this.options;
    const records = batch.messages.map((m) => toSqsRecord(m, queueArn, region));
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
    const ok = new Set(succeeded);
    const failed = records.filter((r) => !ok.has(r));
    const held = this.options.held;
    for (const r of succeeded) held?.delete(r.receiptHandle);
    await Promise.all([this.delete(succeeded), this.release(failed.filter((r) => !held?.delete(r.receiptHandle)), batch.receivedAt)]);
  }

  /** Runs one SQS batch call per 10 entries, all at once. */
  private async inChunks(records: readonly SQSRecord[], call: string, send: (part: readonly SQSRecord[]) => Promise<{ Failed?: { Message?: string }[] }>): Promise<void> {
    await Promise.all(
      chunk(records, RECEIVE_MAX).map(async (part) => {
        try {
          const out = await send(part);
          if (out.Failed?.length) this.log(`[${this.options.name}] ${call}: ${out.Failed.length} entries failed (${out.Failed[0]?.Message ?? ''})`);
        } catch (err) {
          this.log(`[${this.options.name}] ${call} failed: ${messageOf(err)}`);
        }
      }),
    );
  }

  private async delete(records: readonly SQSRecord[]): Promise<void> {
    const { sqs, queueUrl } = this.options;
    await this.inChunks(records, 'DeleteMessageBatch', (part) =>
      sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: part.map((r, j) => ({ Id: String(j), ReceiptHandle: r.receiptHandle })) })),
    );
  }

  /** Failed messages reappear the queue's visibility timeout after their receive, as if received with it. */
  private async release(records: readonly SQSRecord[], receivedAt: number): Promise<void> {
    if (records.length === 0) return;
    const { sqs, queueUrl } = this.options;
    const visibility = Math.max(0, Math.ceil((await this.visibilityTimeout()) - (Date.now() - receivedAt) / 1000));
    await this.inChunks(records, 'ChangeMessageVisibilityBatch', (part) =>
      sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: part.map((r, j) => ({ Id: String(j), ReceiptHandle: r.receiptHandle, VisibilityTimeout: visibility })) })),
    );
  }

  private async visibilityTimeout(): Promise<number> {
    if (this.queueVisibility === undefined) {
      try {
        const { Attributes: a = {} } = await this.options.sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.options.queueUrl, AttributeNames: ['VisibilityTimeout'] }));
        this.queueVisibility = Number(a.VisibilityTimeout ?? 30);
      } catch (err) {
        this.log(`[${this.options.name}] GetQueueAttributes failed: ${messageOf(err)}`);
        return 0;
      }
    }
    return this.queueVisibility;
  }
}

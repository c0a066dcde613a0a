import { safeErrorText } from '../core/error-text';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { targetRecord } from '../core/target-record';
import type { BatchTargetWriter, TargetResult, TargetWrite } from '../ports';
import type { RetryOptions } from './retry';
import { MAX_BATCH_BYTES, SqsPublisher } from './sqs-publisher';

/** The URL of a standard SQS queue from its ARN (`arn:<partition>:sqs:<region>:<account>:<name>`). */
export function queueUrlFromArn(arn: string): string {
  const m = /^arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/.exec(arn);
  if (!m) throw new Error(`not an SQS queue ARN: ${arn}`);
  const [, partition, region, account, name] = m;
  const domain = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sqs.${region}.${domain}/${account}/${name}`;
}

export interface SqsTargetWriterOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly retry?: RetryOptions;
}

/**
 * Sends each key's current state as a message `{flow, key, op, version, ts, data}` with SendMessageBatch (10 per
 * call, 256 KB), retrying entries that failed on the server side with backoff. A message over 256 KB is rejected;
 * an entry still failing after the retries is a retry for its key alone.
 */
export class SqsTargetWriter implements BatchTargetWriter {
  private readonly publisher: SqsPublisher;

  constructor(private readonly options: SqsTargetWriterOptions) {
    this.publisher = new SqsPublisher({ client: options.client, retry: options.retry });
  }

  async writeBatch(changes: readonly TargetWrite[]): Promise<Map<string, TargetResult>> {
    const results = new Map<string, TargetResult>();
    const messages: { id: string; body: string }[] = [];
    const keyOf = new Map<string, string>();
    changes.forEach((c, i) => {
      const body = JSON.stringify(targetRecord(c));
      const size = Buffer.byteLength(body);
      if (size > MAX_BATCH_BYTES) {
        results.set(c.key, { status: 'rejected', reason: `message of ${size} bytes is over the 256 KB SQS limit` });
        return;
      }
      keyOf.set(String(i), c.key);
      messages.push({ id: String(i), body });
    });
    if (messages.length === 0) return results;
    let failed: string[];
    try {
      ({ failed } = await this.publisher.send(this.options.queueUrl, messages));
    } catch (err) {
      for (const key of keyOf.values()) results.set(key, { status: 'retry', reason: `SendMessageBatch failed: ${safeErrorText(err)}` });
      return results;
    }
    const failedSet = new Set(failed);
    for (const [id, key] of keyOf) {
      results.set(key, failedSet.has(id) ? { status: 'retry', reason: 'SendMessageBatch entry still failed after retries' } : { status: 'written' });
    }
    return results;
  }
}

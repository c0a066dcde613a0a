import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { canonicalJson } from '../core/envelope';
import { targetRecord } from '../core/target-record';
import type { BatchTargetWriter, TargetResult, TargetWrite } from '../ports';
import { safeErrorText } from './retry';

export interface S3TargetWriterOptions {
  readonly client: Pick<S3Client, 'send'>;
  readonly bucket: string;
  /** Key prefix; a trailing `/` is added when missing. */
  readonly prefix?: string;
}

/** `prefix/flow=<id>/dt=YYYY-MM-DD/hour=HH/<hash>.jsonl` for a batch's JSONL lines (pure, exported for tests). */
export function s3ObjectKey(prefix: string, flow: string, lines: readonly string[], ts: number): string {
  const body = lines.join('\n') + '\n';
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 32);
  const iso = new Date(ts).toISOString();
  const p = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  return `${p}flow=${flow}/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/${hash}.jsonl`;
}

/**
 * Writes a batch as one JSONL object: a line `{op, key, version, ts, data}` per key, sorted by key. The object
 * key is the hash of the lines, partitioned by the newest change clock of the batch, so it depends only on the
 * batch's content: a redelivered batch overwrites its object instead of adding a duplicate.
 */
export class S3TargetWriter implements BatchTargetWriter {
  constructor(private readonly options: S3TargetWriterOptions) {}

  async writeBatch(changes: readonly TargetWrite[]): Promise<Map<string, TargetResult>> {
    const results = new Map<string, TargetResult>();
    if (changes.length === 0) return results;
    const sorted = [...changes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const lines = sorted.map((c) => {
      const { flow: _flow, ...line } = targetRecord(c);
      return canonicalJson(line);
    });
    const ts = Math.max(...sorted.map((c) => c.ts));
    const key = s3ObjectKey(this.options.prefix ?? '', sorted[0]!.flow, lines, ts);
    // One PutObject: the SDK client retries throttling and server errors; a failure goes back to the queue.
    let last = '';
    try {
      await this.options.client.send(
        new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: lines.join('\n') + '\n', ContentType: 'application/x-ndjson' }),
      );
      for (const c of changes) results.set(c.key, { status: 'written' });
      return results;
    } catch (err) {
      last = safeErrorText(err);
    }
    for (const c of changes) results.set(c.key, { status: 'retry', reason: `PutObject s3://${this.options.bucket}/${key} failed: ${last}` });
    return results;
  }
}

import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamSdkRecord,
  type DynamoDBStreamsClient,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { lambdaContext } from './sqs-poller';
import { messageOf } from '../../functions/core/errors';
import { errorNameOf } from '../../functions/core/error-text';

/** What a stream-triggered function exports: Lambda calls it with a batch and reads `batchItemFailures`. */
export type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse | void | null | undefined>;

export interface StreamPollerOptions {
  /** For DescribeTable (the table's latest stream ARN). */
  readonly dynamodb: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  /** For the on-failure destination. */
  readonly sqs: SQSClient;
  /** Function name, for logs and the Lambda context. */
  readonly name: string;
  readonly tableName: string;
  readonly region: string;
  readonly batchSize: number;
  readonly timeoutSeconds?: number;
  /** Retries of a failing batch before it is given up on (sent to the on-failure queue and skipped). */
  readonly retryAttempts: number;
  /** Records older than this are given up on without invoking the function. */
  readonly maxRecordAgeSeconds: number;
  readonly bisectBatchOnError: boolean;
  /** The on-failure destination: receives the metadata of every batch given up on. */
  readonly onFailureQueueUrl: string;
  readonly handler: StreamHandler;
  readonly log?: (line: string) => void;
}

/** The on-failure record Lambda sends for a stream batch it gave up on. */
export interface StreamFailureRecord {
  readonly requestContext: { requestId: string; functionArn: string; condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded'; approximateInvokeCount: number };
  readonly responseContext: { statusCode: number; executedVersion: string; functionError?: string };
  readonly version: '1.0';
  readonly timestamp: string;
  readonly DDBStreamBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/** Binary attribute values travel as base64 strings in Lambda's JSON event, as the SDK's Uint8Array elsewhere. */
function lambdaAttributeValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(lambdaAttributeValue);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, lambdaAttributeValue(v)]));
  return value;
}

/** Wait after a pass over the shards that handed the function nothing. */
const POLL_INTERVAL_MS = 250;
/** Wait before retrying a failed batch: `min(2000, base * 2^(attempt-1))`. */
const RETRY_BASE_MS = 100;

const image = (v: unknown) => (v === undefined ? undefined : (lambdaAttributeValue(v) as Record<string, any>));

/** A GetRecords record as Lambda hands it to the function (epoch-seconds creation time, base64 binaries). */
export function toLambdaStreamRecord(r: StreamSdkRecord, streamArn: string, region: string): DynamoDBRecord {
  const d = r.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime as Date | number | undefined;
  const seconds = created instanceof Date ? Math.floor(created.getTime() / 1000) : typeof created === 'number' ? created : undefined;
  return {
    ...(r.eventID ? { eventID: r.eventID } : {}),
    ...(r.eventName ? { eventName: r.eventName } : {}),
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    dynamodb: {
      ...(seconds !== undefined ? { ApproximateCreationDateTime: seconds } : {}),
      ...(d.Keys ? { Keys: image(d.Keys) } : {}),
      ...(d.NewImage ? { NewImage: image(d.NewImage) } : {}),
      ...(d.OldImage ? { OldImage: image(d.OldImage) } : {}),
      ...(d.SequenceNumber ? { SequenceNumber: d.SequenceNumber } : {}),
      ...(d.SizeBytes !== undefined ? { SizeBytes: d.SizeBytes } : {}),
      ...(d.StreamViewType ? { StreamViewType: d.StreamViewType } : {}),
    },
    eventSourceARN: streamArn,
    ...(r.userIdentity ? { userIdentity: { type: r.userIdentity.Type, principalId: r.userIdentity.PrincipalId } } : {}),
  } as DynamoDBRecord;
}

/**
 * The index in `records` to resume from after a response, with Lambda's rules for `reportBatchItemFailures`
 * on streams: no response or an empty list = done (-1); else the lowest failed sequence number; an identifier
 * that is missing, empty or not in the batch fails the whole batch (0).
 */
export function resumeIndex(records: readonly DynamoDBRecord[], response: DynamoDBBatchResponse | void | null | undefined): number {
  const failures = response?.batchItemFailures;
  if (!failures || failures.length === 0) return -1;
  let lowest = Number.POSITIVE_INFINITY;
  for (const f of failures) {
    const id = f?.itemIdentifier;
    const at = typeof id === 'string' && id !== '' ? records.findIndex((r) => r.dynamodb?.SequenceNumber === id) : -1;
    if (at < 0) return 0;
    lowest = Math.min(lowest, at);
  }
  return lowest;
}

interface ShardState {
  readonly shardId: string;
  readonly parentId?: string;
  iterator?: string;
  /** Last sequence number handed to the function successfully (or given up on): the checkpoint. */
  checkpoint?: string;
  /** Records read, not yet done, in order. */
  buffer: StreamSdkRecord[];
  /** GetRecords returned no NextShardIterator: the shard is closed; finished once its buffer is empty. */
  closed: boolean;
  /** The last GetRecords returned no record. */
  caughtUp: boolean;
  attempts: number;
  /** Batch size for the next invocation (bisected after errors). */
  size: number;
}

/**
 * Emulates a Lambda DynamoDB Streams event source mapping on one table of DynamoDB Local: reads every shard in
 * order from TRIM_HORIZON (a child after its parent), invokes the handler with Lambda-shaped batches, resumes
 * from the sequence number a `batchItemFailures` answer names, bisects a batch whose invocation throws, and
 * after `retryAttempts` (or for records older than `maxRecordAgeSeconds`) sends the batch's metadata to the
 * on-failure queue and moves past it. Checkpoints are kept in memory, so a restart reads the stream (24 hours
 * of it) again; merges absorb the repeats. Follows the table to a new stream when its stream is re-enabled.
 *
 * Filter criteria: the source's `filter` is not pushed down here; the handler applies the full pattern to
 * every record, which drops what the mapping's pushed-down filters would have dropped (and more).
 */
export class StreamPoller {
  private running = false;
  private loop: Promise<void> | undefined;
  private streamArn: string | undefined;
  private readonly shards = new Map<string, ShardState>();
  private readonly finished = new Set<string>();
  private inFlight = 0;
  private lastDescribe = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly options: StreamPollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops polling; waits for the batch in flight to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** Nothing buffered, nothing in the handler, and the last read of every open shard found no new record. */
  idle(): boolean {
    if (this.inFlight > 0) return false;
    for (const s of this.shards.values()) if (s.buffer.length > 0 || (!s.closed && !s.caughtUp)) return false;
    return true;
  }

  private log(line: string): void {
    (this.options.log ?? ((l) => console.error(l)))(line);
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let progressed = false;
      let failed = false;
      try {
        progressed = await this.tick();
      } catch (err) {
        if (!this.running) break;
        failed = true;
        this.log(`[${this.options.name}] stream polling failed: ${messageOf(err)}`);
      }
      // After an error (e.g. the table was deleted), wait longer so the log is not flooded.
      if (this.running && !progressed) await this.sleep(failed ? 5000 : POLL_INTERVAL_MS);
    }
  }

  /** One pass over the shards; true when records were handed to the function (poll again at once). */
  private async tick(): Promise<boolean> {
    const now = Date.now();
    // The shard list (and the table's current stream) is refreshed every few seconds, or when a shard closed.
    const anyClosed = [...this.shards.values()].some((s) => s.closed && s.buffer.length === 0);
    if (!this.streamArn || anyClosed || now - this.lastDescribe > 5000) await this.describe();
    let progressed = false;
    for (const shard of [...this.shards.values()]) {
      if (!this.running) break;
      if (shard.parentId && this.shards.has(shard.parentId) && !this.finished.has(shard.parentId)) continue;
      if (shard.buffer.length === 0 && !shard.closed) await this.read(shard);
      if (shard.buffer.length > 0) {
        await this.process(shard);
        progressed = true;
      }
      if (shard.closed && shard.buffer.length === 0) {
        this.finished.add(shard.shardId);
        this.shards.delete(shard.shardId);
      }
    }
    return progressed;
  }

  private async describe(): Promise<void> {
    this.lastDescribe = Date.now();
    const { Table } = await this.options.dynamodb.send(new DescribeTableCommand({ TableName: this.options.tableName }));
    const latest = Table?.StreamSpecification?.StreamEnabled ? Table.LatestStreamArn : undefined;
    if (latest && latest !== this.streamArn) {
      // A new stream (stream re-enabled): finish the old one's buffered records first, then switch.
      if ([...this.shards.values()].some((s) => s.buffer.length > 0)) return;
      if (this.streamArn) this.log(`[${this.options.name}] table ${this.options.tableName} has a new stream; reading it from TRIM_HORIZON`);
      this.streamArn = latest;
      this.shards.clear();
      this.finished.clear();
    }
    if (!this.streamArn) return;
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await this.options.streams.send(new DescribeStreamCommand({ StreamArn: this.streamArn, ...(start ? { ExclusiveStartShardId: start } : {}) }));
      shards.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    for (const s of shards) {
      if (!s.ShardId || this.shards.has(s.ShardId) || this.finished.has(s.ShardId)) continue;
      this.shards.set(s.ShardId, { shardId: s.ShardId, ...(s.ParentShardId ? { parentId: s.ParentShardId } : {}), buffer: [], closed: false, caughtUp: false, attempts: 0, size: this.options.batchSize });
    }
  }

  private async iterator(shard: ShardState): Promise<string | undefined> {
    const input = shard.checkpoint
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: shard.checkpoint }
      : { ShardIteratorType: 'TRIM_HORIZON' as const };
    try {
      const out = await this.options.streams.send(new GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: shard.shardId, ...input }));
      return out.ShardIterator;
    } catch (err) {
      if (errorNameOf(err) === 'ResourceNotFoundException') {
        // The shard was trimmed away.
        shard.closed = true;
        return undefined;
      }
      if (errorNameOf(err) === 'TrimmedDataAccessException' && shard.checkpoint) {
        this.log(`[${this.options.name}] records after ${shard.checkpoint} of ${shard.shardId} were trimmed; reading from TRIM_HORIZON`);
        shard.checkpoint = undefined;
        return this.iterator(shard);
      }
      throw err;
    }
  }

  private async read(shard: ShardState): Promise<void> {
    shard.iterator ??= await this.iterator(shard);
    if (!shard.iterator) return;
    let out;
    try {
      out = await this.options.streams.send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: 1000 }));
    } catch (err) {
      if (errorNameOf(err) === 'ExpiredIteratorException' || errorNameOf(err) === 'TrimmedDataAccessException') {
        shard.iterator = undefined;
        return;
      }
      throw err;
    }
    const records = out.Records ?? [];
    shard.buffer.push(...records);
    shard.caughtUp = records.length === 0;
    shard.iterator = out.NextShardIterator;
    if (!out.NextShardIterator) shard.closed = true;
  }

  private async process(shard: ShardState): Promise<void> {
    const { name, region, retryAttempts, maxRecordAgeSeconds } = this.options;
    const streamArn = this.streamArn!;
    // Records past the maximum age are given up on without an invocation, as the mapping does.
    const oldest = Date.now() / 1000 - maxRecordAgeSeconds;
    let aged = 0;
    while (aged < shard.buffer.length && ageOf(shard.buffer[aged]!) !== undefined && ageOf(shard.buffer[aged]!)! < oldest) aged++;
    if (aged > 0) {
      const batch = shard.buffer.slice(0, aged).map((r) => toLambdaStreamRecord(r, streamArn, region));
      await this.giveUp(shard, batch, 'RecordAgeExceeded', 0);
      this.skip(shard, aged);
      return;
    }

    const size = Math.max(1, Math.min(shard.size, this.options.batchSize, shard.buffer.length));
    const batch = shard.buffer.slice(0, size).map((r) => toLambdaStreamRecord(r, streamArn, region));
    let resumeAt: number;
    let threw = false;
    this.inFlight++;
    try {
      const response = await this.options.handler({ Records: batch }, lambdaContext(name, this.options.timeoutSeconds));
      resumeAt = resumeIndex(batch, response);
    } catch (err) {
      this.log(`[${name}] handler failed on a batch of ${batch.length} from ${shard.shardId}: ${messageOf(err)}`);
      resumeAt = 0;
      threw = true;
    } finally {
      this.inFlight--;
    }
    if (resumeAt < 0) {
      this.skip(shard, batch.length);
      shard.attempts = 0;
      shard.size = this.options.batchSize;
      return;
    }
    // Records before the failed one are done.
    if (resumeAt > 0) {
      this.skip(shard, resumeAt);
      shard.attempts = 0;
    }
    shard.attempts++;
    const failed = batch.slice(resumeAt);
    if (shard.attempts > retryAttempts) {
      this.log(`[${name}] giving up on ${failed.length} record(s) of ${shard.shardId} from ${failed[0]?.dynamodb?.SequenceNumber} after ${retryAttempts} retries; metadata sent to the on-failure queue`);
      await this.giveUp(shard, failed, 'RetryAttemptsExhausted', shard.attempts);
      this.skip(shard, failed.length);
      shard.attempts = 0;
      shard.size = this.options.batchSize;
      return;
    }
    // bisectBatchOnError: a failed invocation is retried with half the batch.
    if (threw && this.options.bisectBatchOnError && failed.length > 1) shard.size = Math.ceil(failed.length / 2);
    await this.sleep(Math.min(2000, RETRY_BASE_MS * 2 ** (shard.attempts - 1)));
  }

  /** Marks the first `n` buffered records done. */
  private skip(shard: ShardState, n: number): void {
    const done = shard.buffer.splice(0, n);
    const last = done[done.length - 1]?.dynamodb?.SequenceNumber;
    if (last) shard.checkpoint = last;
  }

  private async giveUp(shard: ShardState, batch: readonly DynamoDBRecord[], condition: StreamFailureRecord['requestContext']['condition'], invokes: number): Promise<void> {
    const at = (r: DynamoDBRecord | undefined) => new Date((r?.dynamodb?.ApproximateCreationDateTime ?? Date.now() / 1000) * 1000).toISOString();
    const record: StreamFailureRecord = {
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:${this.options.region}:000000000000:function:${this.options.name}`,
        condition,
        approximateInvokeCount: invokes,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', ...(condition === 'RetryAttemptsExhausted' ? { functionError: 'Unhandled' } : {}) },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: shard.shardId,
        startSequenceNumber: batch[0]?.dynamodb?.SequenceNumber ?? '',
        endSequenceNumber: batch[batch.length - 1]?.dynamodb?.SequenceNumber ?? '',
        approximateArrivalOfFirstRecord: at(batch[0]),
        approximateArrivalOfLastRecord: at(batch[batch.length - 1]),
        batchSize: batch.length,
        streamArn: this.streamArn ?? '',
      },
    };
    try {
      await this.options.sqs.send(new SendMessageCommand({ QueueUrl: this.options.onFailureQueueUrl, MessageBody: JSON.stringify(record) }));
    } catch (err) {
      this.log(`[${this.options.name}] could not send to the on-failure queue: ${messageOf(err)}`);
    }
  }
}

function ageOf(r: StreamSdkRecord): number | undefined {
  const created = r.dynamodb?.ApproximateCreationDateTime as Date | number | undefined;
  return created instanceof Date ? created.getTime() / 1000 : typeof created === 'number' ? created : undefined;
}

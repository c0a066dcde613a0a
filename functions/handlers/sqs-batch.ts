import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { safeErrorText } from '../core/error-text';
import { MAX_RECEIVE_COUNT } from '../plan/plan';
import { PartialWriteError, type LogPort, type Publisher } from '../ports';

/**
 * Tracks which SQS messages of a batch failed, so one bad record never fails its batch:
 * the response lists exactly those messages in `batchItemFailures`.
 */
export class SqsBatch {
  /** Failed message ids, with why each first failed. */
  private readonly failed = new Map<string, string>();
  /** Failed messages not to be tried again before a time (ms), as the API they go to asked. */
  private readonly held = new Map<string, number>();

  constructor(
    readonly records: readonly SQSRecord[],
    private readonly logger: LogPort,
  ) {}

  /** Marks messages failed (they come back after the visibility timeout, then go to the DLQ). */
  fail(messageIds: Iterable<string>, why: string, err?: unknown): void {
    const ids = [...messageIds].filter((id) => !this.failed.has(id));
    if (ids.length === 0) return;
    const error = err === undefined ? undefined : safeErrorText(err);
    // What failed, and the error's safe text (its name, a fixed phrase for known refusals): what a give-up audit says.
    for (const id of ids) this.failed.set(id, error ? `${why}: ${error}` : why);
    this.logger.warn(why, { messageIds: ids, error });
  }

  /** Asks that failed messages be received again only after `until` (ms): see {@link HeldBatchResponse}. */
  hold(messageIds: Iterable<string>, until: number): void {
    for (const id of messageIds) if (this.failed.has(id)) this.held.set(id, Math.max(until, this.held.get(id) ?? 0));
  }

  isFailed(messageId: string): boolean {
    return this.failed.has(messageId);
  }

  /**
   * The failed message among `messageIds` that was on its last receive (SQS moves it to the DLQ next), with why it
   * failed; undefined while each has retries left.
   */
  lastTry(messageIds: Iterable<string>): { attempts: number; reason: string } | undefined {
    const ids = new Set(messageIds);
    const last = this.records.find((r) => ids.has(r.messageId) && this.failed.has(r.messageId) && onLastReceive(r));
    if (!last) return undefined;
    return { attempts: Number(last.attributes.ApproximateReceiveCount), reason: `gave up after ${MAX_RECEIVE_COUNT} attempts, the message goes to the DLQ: ${this.failed.get(last.messageId)}` };
  }

  /** Runs work that concerns `messageIds`; if it throws, those messages fail and `undefined` is returned. */
  async attempt<T>(messageIds: Iterable<string>, why: string, work: () => Promise<T>): Promise<T | undefined> {
    const ids = [...messageIds];
    try {
      return await work();
    } catch (err) {
      this.fail(ids, why, err);
      return undefined;
    }
  }

  /**
   * Runs a write of items that messages own (`owners[i]` owns item i). When the store refused only some items
   * (PartialWriteError), only their owners fail; any other error fails every owner. Answers whether all went in.
   */
  async attemptItems(owners: readonly (string | readonly string[])[], why: string, work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (err) {
      const ids = (positions: Iterable<number>) => [...positions].flatMap((i) => owners[i] ?? []);
      if (err instanceof PartialWriteError) this.fail(ids(err.failed), why, err);
      else this.fail(ids(owners.keys()), why, err);
      return false;
    }
  }

  /** Runs per-message work for every message not yet failed; a throw fails that message only. */
  async each(work: (record: SQSRecord) => Promise<void>, why = 'message processing failed'): Promise<void> {
    await Promise.all(
      this.records.filter((r) => !this.failed.has(r.messageId)).map((r) => this.attempt([r.messageId], why, () => work(r))),
    );
  }

  /** Whether any of the messages is on its last receive, failed or not. */
  onLastReceive(messageIds: readonly string[]): boolean {
    const ids = new Set(messageIds);
    return this.records.some((r) => ids.has(r.messageId) && onLastReceive(r));
  }

  /**
   * Sends these messages' bodies on to another queue (a DLQ to park them, their own queue as new messages), so they
   * are done with here; a message that could not be sent fails, with `why`.
   */
  async forward(publisher: Publisher, queueUrl: string, messageIds: readonly string[], why: string, options?: Parameters<Publisher['send']>[2]): Promise<void> {
    if (messageIds.length === 0) return;
    const bodies = new Map(this.records.map((r) => [r.messageId, r.body]));
    const messages = messageIds.map((id) => ({ id, body: bodies.get(id)! }));
    const sent = await this.attempt(messageIds, why, () => publisher.send(queueUrl, messages, options));
    if (sent) this.fail(sent.failed, why);
  }

  response(): HeldBatchResponse {
    const batchItemFailures = [...this.failed.keys()].map((itemIdentifier) => ({ itemIdentifier }));
    return this.held.size === 0 ? { batchItemFailures } : { batchItemFailures, heldUntil: Object.fromEntries(this.held) };
  }
}

/**
 * A partial batch response that also says, for some failed messages, when they may be tried again (ms). Lambda reads
 * only `batchItemFailures`: the step's outer wrapper (readingPacks) holds those messages back and drops `heldUntil`.
 */
export interface HeldBatchResponse extends SQSBatchResponse {
  readonly heldUntil?: Readonly<Record<string, number>>;
}

/** A message SQS moves to the DLQ if this receive fails it too. */
const onLastReceive = (r: SQSRecord): boolean => Number(r.attributes?.ApproximateReceiveCount ?? 1) >= MAX_RECEIVE_COUNT;

/** Runs a batch with `process` and answers the partial batch response; an unexpected throw fails every message not yet settled. */
export async function runSqsBatch(
  records: readonly SQSRecord[],
  logger: LogPort,
  process: (batch: SqsBatch) => Promise<void>,
): Promise<HeldBatchResponse> {
  const batch = new SqsBatch(records, logger);
  try {
    await process(batch);
  } catch (err) {
    batch.fail(
      records.map((r) => r.messageId),
      'batch processing failed',
      err,
    );
  }
  return batch.response();
}

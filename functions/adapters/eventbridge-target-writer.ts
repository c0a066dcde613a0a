import { safeErrorText } from '../core/error-text';
import { targetRecord } from '../core/target-record';
import type { BatchTargetWriter, TargetResult, TargetWrite } from '../ports';
import { entryBytes, MAX_EVENT_BYTES, putEventsCalls, RETRYABLE_CODES, type EventEntry, type EventPutter, type PutEventsOutcome } from './eventbridge-put-events';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface EventBridgeTargetWriterOptions {
  readonly putter: EventPutter;
  readonly busName: string;
  readonly source: string;
  /** `<detailType>` for upserts, `<detailType>.Deleted` for deletes. */
  readonly detailType: string;
  readonly retry?: RetryOptions;
}

/**
 * Publishes each key's current state as an event (`detail` = `{flow, key, op, version, ts, data}`), in PutEvents
 * calls of at most 10 entries and 256 KB. Entries reported in FailedEntryCount are retried with backoff; an entry still failing is reported
 * for its key alone (retry for throttling and internal errors, rejected for malformed entries).
 */
export class EventBridgeTargetWriter implements BatchTargetWriter {
  private readonly retry: ResolvedRetry;

  constructor(private readonly options: EventBridgeTargetWriterOptions) {
    this.retry = resolveRetry({ maxAttempts: 5, ...options.retry });
  }

  entryOf(change: TargetWrite): EventEntry {
    const record = targetRecord(change);
    return {
      Source: this.options.source,
      DetailType: record.op === 'delete' ? `${this.options.detailType}.Deleted` : this.options.detailType,
      Detail: JSON.stringify(record),
      EventBusName: this.options.busName,
      Time: new Date(record.ts),
    };
  }

  async writeBatch(changes: readonly TargetWrite[]): Promise<Map<string, TargetResult>> {
    const results = new Map<string, TargetResult>();
    const pending: { key: string; entry: EventEntry }[] = [];
    for (const c of changes) {
      const entry = this.entryOf(c);
      const size = entryBytes(entry);
      if (size > MAX_EVENT_BYTES) results.set(c.key, { status: 'rejected', reason: `event of ${size} bytes is over the 256 KB PutEvents limit` });
      else pending.push({ key: c.key, entry });
    }
    await Promise.all(putEventsCalls(pending, (p) => p.entry).map((group) => this.putGroup(group, results)));
    return results;
  }

  private async putGroup(group: { key: string; entry: EventEntry }[], results: Map<string, TargetResult>): Promise<void> {
    let pending = group;
    const lastError = new Map<string, string>();
    for (let attempt = 1; pending.length > 0 && attempt <= this.retry.maxAttempts; attempt++) {
      if (attempt > 1) await this.retry.sleep(backoffMs(this.retry, attempt - 1));
      let out: PutEventsOutcome;
      try {
        out = await this.options.putter.putEvents(pending.map((p) => p.entry));
      } catch (err) {
        for (const p of pending) lastError.set(p.key, safeErrorText(err));
        // The SDK client already retried throttling of the call: one retry layer.
        break;
      }
      if (!out.FailedEntryCount) {
        for (const p of pending) results.set(p.key, { status: 'written' });
        pending = [];
        break;
      }
      // Entries answer in request order.
      const retry: typeof pending = [];
      pending.forEach((p, i) => {
        const e = out.Entries?.[i];
        if (e && !e.ErrorCode) results.set(p.key, { status: 'written' });
        else if (e?.ErrorCode && !RETRYABLE_CODES.has(e.ErrorCode)) results.set(p.key, { status: 'rejected', reason: `PutEvents entry failed: ${e.ErrorCode}${e.ErrorMessage ? ` (${e.ErrorMessage})` : ''}` });
        else {
          lastError.set(p.key, `PutEvents entry failed: ${e?.ErrorCode ?? 'no entry result'}`);
          retry.push(p);
        }
      });
      pending = retry;
    }
    for (const p of pending) results.set(p.key, { status: 'retry', reason: `${lastError.get(p.key) ?? 'PutEvents failed'} (after ${this.retry.maxAttempts} attempts)` });
  }
}

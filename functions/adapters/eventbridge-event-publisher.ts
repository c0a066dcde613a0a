import { safeErrorText } from '../core/error-text';
import type { EventPublisher, PublishedEvent } from '../ports';
import { entryBytes, MAX_EVENT_BYTES, putEventsCalls, RETRYABLE_CODES, type EventEntry, type EventPutter } from './eventbridge-put-events';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface EventBridgeEventPublisherOptions {
  /** PutEvents: the SDK client in AWS (`sdkEventPutter`), the runtime's LocalEventBus in `npm start`. */
  readonly putter: EventPutter;
  /** Bus name or ARN. @default 'default' */
  readonly busName?: string;
  readonly retry?: RetryOptions;
}

/**
 * EventPublisher on EventBridge PutEvents: calls of at most 10 entries and 256 KB, failed entries (throttling, internal errors)
 * retried with backoff; throws when an entry is rejected or still fails after the retries.
 */
export class EventBridgeEventPublisher implements EventPublisher {
  private readonly retry: ResolvedRetry;

  constructor(private readonly options: EventBridgeEventPublisherOptions) {
    this.retry = resolveRetry({ maxAttempts: 4, ...options.retry });
  }

  async put(events: readonly PublishedEvent[]): Promise<void> {
    const entries: EventEntry[] = events.map((e) => ({
      Source: e.source,
      DetailType: e.detailType,
      Detail: JSON.stringify(e.detail),
      EventBusName: this.options.busName ?? 'default',
    }));
    const tooLarge = entries.filter((e) => entryBytes(e) > MAX_EVENT_BYTES).map((e) => `event of ${entryBytes(e)} bytes is over the 256 KB PutEvents limit`);
    const fitting = entries.filter((e) => entryBytes(e) <= MAX_EVENT_BYTES);
    const failures = [...tooLarge, ...(await Promise.all(putEventsCalls(fitting, (e) => e).map((group) => this.putGroup(group)))).flat()];
    if (failures.length > 0) throw new Error(`PutEvents failed for ${failures.length} of ${entries.length} event(s): ${failures[0]}`);
  }

  /** Answers the error of each entry that could not be put. */
  private async putGroup(group: EventEntry[]): Promise<string[]> {
    let pending = group;
    const rejected: string[] = [];
    let lastError = 'PutEvents failed';
    for (let attempt = 1; pending.length > 0 && attempt <= this.retry.maxAttempts; attempt++) {
      if (attempt > 1) await this.retry.sleep(backoffMs(this.retry, attempt - 1));
      let out;
      try {
        out = await this.options.putter.putEvents(pending);
      } catch (err) {
        lastError = safeErrorText(err);
        // The SDK client already retried throttling of the call: one retry layer.
        break;
      }
      if (!out.FailedEntryCount) return rejected;
      const retry: EventEntry[] = [];
      pending.forEach((entry, i) => {
        const e = out.Entries?.[i];
        if (e && !e.ErrorCode) return;
        const why = `${e?.ErrorCode ?? 'no entry result'}${e?.ErrorMessage ? ` (${e.ErrorMessage})` : ''}`;
        if (e?.ErrorCode && !RETRYABLE_CODES.has(e.ErrorCode)) rejected.push(why);
        else {
          lastError = why;
          retry.push(entry);
        }
      });
      pending = retry;
    }
    return [...rejected, ...pending.map(() => `${lastError} (after ${this.retry.maxAttempts} attempts)`)];
  }
}

import type { SourceConfig } from '../../config/schema';
import { getPath } from '../envelope';
import { matchesPattern } from '../event-pattern';
import { InexactNumber } from '../json-safety';
import { isObject, kindOf } from './webhook-body';

type WebhookSource = Extract<SourceConfig, { type: 'webhook' }>;

const EVENT_PREFIX = '$event.';
/** Epoch numbers below this are seconds (10^11 s is the year 5138; 10^11 ms is 1973). */
const SECONDS_BELOW = 1e11;

/** The record an event carries at the source's `recordPath` (the event itself without one); undefined when there is none (GitHub's `ping`). */
export function recordOf(source: WebhookSource, event: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!source.recordPath) return event;
  const value = getPath(event, source.recordPath);
  return isObject(value) ? value : undefined;
}

/**
 * The source timestamp in ms (capture time without `timestampField`), or a reason to quarantine. A delete without
 * the field takes the capture time: senders often send a delete as the id alone (Shopify's `products/delete`).
 */
export function timestampOf(source: WebhookSource, event: Record<string, unknown>, record: Record<string, unknown>, now: number, op: 'upsert' | 'delete' = 'upsert'): number | string {
  const field = source.timestampField;
  if (!field) return now;
  const value = field.startsWith(EVENT_PREFIX) ? getPath(event, field.slice(EVENT_PREFIX.length)) : getPath(record, field);
  if (value === undefined || value === null || value === '') return op === 'delete' ? now : `timestampField "${field}" is missing`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return `timestampField "${field}" is not a valid epoch number`;
    return value < SECONDS_BELOW ? Math.round(value * 1000) : value;
  }
  if (typeof value === 'string') {
    if (/^\d+(\.\d+)?$/.test(value)) {
      const n = Number(value);
      return n < SECONDS_BELOW ? Math.round(n * 1000) : n;
    }
    const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isFinite(ms)) return ms;
    return `timestampField "${field}" is not an ISO-8601 time, epoch ms or epoch seconds`;
  }
  // A number the body held beyond what a double keeps exactly (parseJsonExact).
  // Its digits are not quoted: the field may be masked.
  if (value instanceof InexactNumber) return `timestampField "${field}" holds a number which ${value.why}: not an epoch time`;
  return `timestampField "${field}" is ${kindOf(value)}, not an ISO-8601 time, epoch ms or epoch seconds`;
}

/** The key of a `deleteWhen` pattern that matches request headers (lower-case names) instead of the event. */
export const HEADERS_KEY = '$headers';

/**
 * Whether an event is a delete under the source's `deleteWhen`: its `$headers` part matched against the request's
 * headers (Shopify names the topic only in `X-Shopify-Topic`), the rest against the whole event.
 */
export function isDelete(source: WebhookSource, event: Record<string, unknown>, headers: Readonly<Record<string, string>>): boolean {
  const pattern = source.deleteWhen;
  if (!pattern) return false;
  const { [HEADERS_KEY]: headerPattern, ...eventPattern } = pattern;
  if (headerPattern !== undefined && !matchesPattern(headerPattern as Record<string, unknown>, headers)) return false;
  return Object.keys(eventPattern).length === 0 || matchesPattern(eventPattern, event);
}

import type { SourceConfig } from '../../config/schema';
import { getPath, MAX_TIME_MS } from '../envelope';
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
export function timestampOf(source: { readonly timestampField?: string | undefined }, event: Record<string, unknown>, record: Record<string, unknown>, now: number, op: 'upsert' | 'delete' = 'upsert'): number | string {
  const field = source.timestampField;
  if (!field) return now;
  const value = field.startsWith(EVENT_PREFIX) ? getPath(event, field.slice(EVENT_PREFIX.length)) : getPath(record, field);
  if (value === undefined || value === null || value === '') return op === 'delete' ? now : `timestampField "${field}" is missing`;
  // Past the latest time a Date holds (about the year 275760), a number is no epoch time: it would win every merge.
  const epoch = (n: number) => (n < SECONDS_BELOW ? Math.round(n * 1000) : n <= MAX_TIME_MS ? n : `timestampField "${field}" is later than any date`);
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return `timestampField "${field}" is not a valid epoch number`;
    return epoch(value);
  }
  if (typeof value === 'string') {
    if (/^\d+(\.\d+)?$/.test(value)) return epoch(Number(value));
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

import { timerSleep, type Sleep } from '../ports';

export { isRefusedItem, safeErrorText } from '../core/error-text';

/** Backoff settings shared by the batch adapters; tests pass `sleep` to avoid waiting. */
export interface RetryOptions {
  /** Total attempts including the first. @default 8 */
  readonly maxAttempts?: number;
  /** First backoff ceiling in ms. @default 50 */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling in ms. @default 5000 */
  readonly maxDelayMs?: number;
  readonly sleep?: Sleep;
}

export interface ResolvedRetry {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: Sleep;
}


export function resolveRetry(options: RetryOptions = {}): ResolvedRetry {
  return {
    maxAttempts: options.maxAttempts ?? 8,
    baseDelayMs: options.baseDelayMs ?? 50,
    maxDelayMs: options.maxDelayMs ?? 5000,
    sleep: options.sleep ?? timerSleep,
  };
}

/** Exponential backoff with full jitter before attempt `attempt` (1 = first retry). */
export function backoffMs(retry: ResolvedRetry, attempt: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(Math.random() * ceiling);
}

const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'LimitExceededException',
  'AWS.SimpleQueueService.RequestThrottled',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
]);

/** Throttling and transient server errors: worth another attempt after a backoff. */
export function isRetryable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: string; $retryable?: unknown };
  if (e.name && THROTTLE_NAMES.has(e.name)) return true;
  if (e.$retryable) return true;
  const status = httpStatusOf(err);
  return status !== undefined && status >= 500;
}

/** The HTTP status an AWS SDK error came with. */
export function httpStatusOf(err: unknown): number | undefined {
  return err && typeof err === 'object' ? (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode : undefined;
}



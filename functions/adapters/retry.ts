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

/** The HTTP status an AWS SDK error came with. */
export function httpStatusOf(err: unknown): number | undefined {
  return err && typeof err === 'object' ? (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode : undefined;
}

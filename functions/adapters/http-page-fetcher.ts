export { authorizationHeader } from './request-auth';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';
import { jsonErrorText } from '../core/error-text';
import { parseJsonPulled } from '../core/json-safety';
import { SynclineError } from '../core/errors';

/** A non-retryable answer (4xx other than 429), or retries exhausted. */
export class HttpPullError extends SynclineError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HttpPullError';
  }
}

export interface HttpPageFetcherOptions {
  /** Per attempt, including reading the body. @default 10000 */
  readonly timeoutMs?: number;
  /** @default { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10000 } */
  readonly retry?: RetryOptions;
  /** A `Retry-After` longer than this fails the page instead of waiting. @default 60000 */
  readonly maxRetryAfterMs?: number;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** For HTTP-date `Retry-After` values. @default Date.now */
  readonly now?: () => number;
}

export interface JsonResponse {
  readonly url: string;
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  /** Attempts it took (1 = no retry). */
  readonly attempts: number;
}

/** `Retry-After` as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * GETs JSON with the global `fetch`: a timeout per attempt (AbortSignal), and bounded retries with exponential
 * backoff on network errors, timeouts and 5xx, honouring `Retry-After` (seconds or HTTP date) on 429 and 503.
 */
export class HttpPageFetcher {
  private readonly timeoutMs: number;
  private readonly retry: ResolvedRetry;
  private readonly maxRetryAfterMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;

  constructor(options: HttpPageFetcherOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retry = resolveRetry({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, ...options.retry });
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
  }

  async getJson(url: string, headers: Readonly<Record<string, string>> = {}): Promise<JsonResponse> {
    return this.request({ url, method: 'GET', headers });
  }

  /** A GET, or a POST with a JSON body; retried as `getJson` is (a search by POST reads, it does not write). */
  async request(req: { readonly url: string; readonly method: 'GET' | 'POST'; readonly headers?: Readonly<Record<string, string>>; readonly body?: string }): Promise<JsonResponse> {
    const { url, method } = req;
    let last = '';
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      let waitMs: number | undefined;
      try {
        const res = await this.fetchImpl(url, {
          method,
          headers: { accept: 'application/json', ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}), ...req.headers },
          ...(req.body !== undefined ? { body: req.body } : {}),
          redirect: 'follow',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (res.ok) {
          const text = await res.text();
          let body: unknown;
          try {
            // Exactly: a number a double cannot hold stays its digits, for the record to be quarantined, not rounded.
            body = text === '' ? null : parseJsonPulled(text);
          } catch (err) {
            throw new HttpPullError(`${method} ${redact(url)}: response is not valid JSON (${jsonErrorText(err)})`, res.status);
          }
          return { url: res.url || url, status: res.status, headers: res.headers, body, attempts: attempt };
        }
        await res.body?.cancel().catch(() => undefined);
        last = `HTTP ${res.status}`;
        if (res.status === 429 || res.status === 503) {
          waitMs = retryAfterMs(res.headers.get('retry-after'), this.now());
          if (waitMs !== undefined && waitMs > this.maxRetryAfterMs) {
            throw new HttpPullError(`${method} ${redact(url)}: ${last} asks to retry after ${Math.ceil(waitMs / 1000)}s, more than ${this.maxRetryAfterMs / 1000}s`, res.status);
          }
        } else if (res.status < 500 || res.status === 501) {
          throw new HttpPullError(`${method} ${redact(url)}: ${last}`, res.status);
        }
      } catch (err) {
        if (err instanceof HttpPullError) throw err;
        const e = err as Error;
        last = e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${this.timeoutMs} ms` : `${e.name}: ${e.message}`;
      }
      if (attempt < this.retry.maxAttempts) await this.retry.sleep(waitMs ?? backoffMs(this.retry, attempt));
    }
    throw new HttpPullError(`${method} ${redact(url)}: failed after ${this.retry.maxAttempts} attempts (last: ${last})`);
  }
}

/** URL without its query string: query parameters may carry tokens. */
export function redact(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : `${url.slice(0, i)}?...`;
}

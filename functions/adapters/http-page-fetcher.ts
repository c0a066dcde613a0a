import { itemsAt, nextPageToken, pageUrl, type PageToken, type Pagination } from '../core/pull/pagination';
import type { PulledPage, PullReader, PullReadOptions, Secrets } from '../ports';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

/** A non-retryable answer (4xx other than 429), or retries exhausted. */
export class HttpPullError extends Error {
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
    let last = '';
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      let waitMs: number | undefined;
      try {
        const res = await this.fetchImpl(url, {
          method: 'GET',
          headers: { accept: 'application/json', ...headers },
          redirect: 'follow',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (res.ok) {
          const text = await res.text();
          let body: unknown;
          try {
            body = text === '' ? null : JSON.parse(text);
          } catch (err) {
            throw new HttpPullError(`GET ${redact(url)}: response is not valid JSON (${(err as Error).message.slice(0, 80)})`, res.status);
          }
          return { url: res.url || url, status: res.status, headers: res.headers, body, attempts: attempt };
        }
        await res.body?.cancel().catch(() => undefined);
        last = `HTTP ${res.status}`;
        if (res.status === 429 || res.status === 503) {
          waitMs = retryAfterMs(res.headers.get('retry-after'), this.now());
          if (waitMs !== undefined && waitMs > this.maxRetryAfterMs) {
            throw new HttpPullError(`GET ${redact(url)}: ${last} asks to retry after ${Math.ceil(waitMs / 1000)}s, more than ${this.maxRetryAfterMs / 1000}s`, res.status);
          }
        } else if (res.status < 500 || res.status === 501) {
          throw new HttpPullError(`GET ${redact(url)}: ${last}`, res.status);
        }
      } catch (err) {
        if (err instanceof HttpPullError) throw err;
        const e = err as Error;
        last = e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${this.timeoutMs} ms` : `${e.name}: ${e.message}`;
      }
      if (attempt < this.retry.maxAttempts) await this.retry.sleep(waitMs ?? backoffMs(this.retry, attempt));
    }
    throw new HttpPullError(`GET ${redact(url)}: failed after ${this.retry.maxAttempts} attempts (last: ${last})`);
  }
}

/** URL without its query string: query parameters may carry tokens. */
function redact(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : `${url.slice(0, i)}?...`;
}

/** The `Authorization` header of a secret: a bearer token, or `user:password` for basic (JSON `{token}` / `{username, password}` work too). */
export function authorizationHeader(type: 'bearer' | 'basic', secret: string): string {
  let value = secret.trim();
  if (value.startsWith('{')) {
    try {
      const json = JSON.parse(value) as Record<string, unknown>;
      if (type === 'bearer' && typeof json.token === 'string') value = json.token;
      if (type === 'basic' && typeof json.username === 'string') value = `${json.username}:${String(json.password ?? '')}`;
    } catch {
      // a plain value that happens to start with '{'
    }
  }
  return type === 'bearer' ? `Bearer ${value}` : `Basic ${Buffer.from(value, 'utf8').toString('base64')}`;
}

export interface HttpPullReaderOptions {
  readonly url: string;
  /** Dotted path of the items array in the response; '' = the body is the array. */
  readonly itemsPath: string;
  readonly pagination: Pagination;
  readonly auth?: { readonly type: 'bearer' | 'basic'; readonly secretName: string };
  /** Required with `auth`. */
  readonly secrets?: Secrets;
  /** Incremental mode: query parameter carrying the high-water mark. */
  readonly cursorParam?: string;
  readonly fetcher: HttpPageFetcher;
}

/** PullReader over a paginated JSON API; the continuation is the next page's token. Positions read `page N item M`. */
export class HttpPullReader implements PullReader {
  constructor(private readonly options: HttpPullReaderOptions) {
    if (options.auth && !options.secrets) throw new Error('HttpPullReader: auth needs secrets');
  }

  async *pages(read: PullReadOptions): AsyncGenerator<PulledPage> {
    const { url: baseUrl, itemsPath, pagination, auth, secrets, cursorParam, fetcher } = this.options;
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = authorizationHeader(auth.type, await secrets!.get(auth.secretName));
    const extra = cursorParam && read.since !== undefined ? { [cursorParam]: read.since } : {};
    let token: PageToken | undefined = read.continuation ? (JSON.parse(read.continuation) as PageToken) : { page: 1 };
    while (token) {
      const res = await fetcher.getJson(pageUrl(baseUrl, pagination, token, extra), headers);
      const found = itemsAt(res.body, itemsPath);
      if ('error' in found) throw new HttpPullError(`page ${token.page}: ${found.error}`, res.status);
      const page = token.page;
      const next = nextPageToken(pagination, token, { body: res.body, link: res.headers.get('link'), url: res.url, itemCount: found.items.length });
      yield {
        items: found.items.map((record, i) => ({ record, position: `page ${page} item ${i + 1}` })),
        next: next ? JSON.stringify(next) : undefined,
        label: `page ${page}`,
      };
      token = next;
    }
  }
}

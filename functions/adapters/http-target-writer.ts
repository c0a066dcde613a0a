import jsonata from 'jsonata';
import { Webhook } from 'standardwebhooks';
import { httpTargetAuth, type FlowConfig, type HttpTargetAuth } from '../../lib/config/schema';
import { eventId } from '../core/envelope';
import { targetRecord, type TargetRecord } from '../core/target-record';
import type { BatchTargetWriter, Secrets, TargetResult, TargetWrite } from '../ports';
import { retryAfterMs } from './http-page-fetcher';
import { requestAuth, type RequestAuth } from './request-auth';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export type HttpTargetConfig = Extract<FlowConfig['targets'][number], { type: 'http' }>;

export interface HttpTargetWriterOptions {
  readonly flowId: string;
  readonly target: HttpTargetConfig;
  /** Reads the target's secret (once per container; OAuth2 tokens are cached until they expire). */
  readonly secrets?: Secrets;
  /** Per-invocation limiter (a TokenBucket); every attempt takes a token. */
  readonly limiter?: { take(): Promise<void> };
  /** Requests in flight at once within one invocation. @default 4 */
  readonly concurrency?: number;
  /** Attempts per key for 408, 429, 5xx, timeouts and network errors. @default 3 */
  readonly retry?: RetryOptions;
  /** A `Retry-After` longer than this is not waited for: the key is left to the SQS retry. @default 10000 */
  readonly maxRetryAfterMs?: number;
  /** No attempt starts after this long since the batch began (keeps an invocation inside its timeout). @default 20000 */
  readonly budgetMs?: number;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
}

/** Largest response body kept in the audit entry of a rejected record. */
export const MAX_AUDIT_BODY = 1000;

/** One request the writer sends (exported for tests). */
export interface HttpRequestPlan {
  readonly url: string;
  readonly method: string;
  readonly body?: string;
  readonly idempotencyKey: string;
}

/**
 * Calls an HTTP API once per key with the key's current state: URL template `{key}` (URL-encoded), method per
 * op, body from a JSONata mapping (default: the record), auth from a secret (bearer, basic, or a Standard
 * Webhooks signature), an `Idempotency-Key` from flow, key and version, and a timeout per attempt.
 * 2xx is written; 408, 429 and 5xx (and timeouts) are retried honouring `Retry-After` within bounds, then left
 * to SQS; any other status rejects the record with the response body.
 */
export class HttpTargetWriter implements BatchTargetWriter {
  private readonly target: HttpTargetConfig;
  private readonly retry: ResolvedRetry;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly body?: jsonata.Expression;
  private readonly auth?: HttpTargetAuth;
  /** Bearer, basic, header and oauth2 credentials; `webhook` signs each request instead. */
  private readonly credentials?: RequestAuth;
  private credential?: Promise<string | undefined>;

  constructor(private readonly options: HttpTargetWriterOptions) {
    this.target = options.target;
    this.retry = resolveRetry({ maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 5000, ...options.retry });
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    if (this.target.body) this.body = jsonata(this.target.body);
    this.auth = httpTargetAuth(this.target);
    if (this.auth && this.auth.type !== 'webhook') {
      const secrets = options.secrets ?? { get: async (name: string) => Promise.reject(new Error(`http target "${this.target.id}" names secret "${name}" but no secrets reader was given`)) };
      this.credentials = requestAuth(this.auth, { secrets, fetch: this.fetchImpl, now: this.now, timeoutMs: this.target.timeoutMs });
    }
  }

  async writeBatch(changes: readonly TargetWrite[]): Promise<Map<string, TargetResult>> {
    const results = new Map<string, TargetResult>();
    const deadline = this.now() + (this.options.budgetMs ?? 20_000);
    const queue = [...changes];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) results.set(c.key, await this.deliver(c, deadline));
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 4, queue.length) }, worker));
    return results;
  }

  /** The request of one change (pure but for the JSONata evaluation). */
  async requestOf(change: TargetWrite): Promise<HttpRequestPlan> {
    const record = targetRecord(change);
    const method = methodFor(this.target.method, record.op);
    const url = this.target.url.split('{key}').join(encodeURIComponent(record.key));
    const idempotencyKey = eventId(this.options.flowId, this.target.id, record.key, record.version);
    if (method === 'DELETE' && !this.body) return { url, method, idempotencyKey };
    return { url, method, idempotencyKey, body: JSON.stringify(await this.bodyOf(record)) };
  }

  private async bodyOf(record: TargetRecord): Promise<unknown> {
    if (!this.body) return record.op === 'delete' ? { key: record.key, op: 'delete', version: record.version, ts: record.ts } : record.data;
    const result = await this.body.evaluate(record.data ?? {}, { key: record.key, op: record.op, version: record.version, ts: record.ts, flow: record.flow });
    return result === undefined ? null : result;
  }

  /** The Standard Webhooks signing secret of a `webhook` target. */
  private secret(): Promise<string | undefined> {
    const name = this.auth?.type === 'webhook' ? this.auth.secretName : undefined;
    if (!name) return Promise.resolve(undefined);
    if (!this.options.secrets) return Promise.reject(new Error(`http target "${this.target.id}" names secret "${name}" but no secrets reader was given`));
    this.credential ??= this.options.secrets.get(name).catch((err: unknown) => {
      this.credential = undefined;
      throw err;
    });
    return this.credential;
  }

  private async headersFor(req: HttpRequestPlan): Promise<Record<string, string>> {
    const headers: Record<string, string> = { 'idempotency-key': req.idempotencyKey, 'user-agent': 'syncline' };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    if (this.credentials) return { ...headers, ...(await this.credentials.headers()) };
    const secret = await this.secret();
    if (secret === undefined) return headers;
    const wh = new Webhook(secret.startsWith('whsec_') ? secret : `whsec_${secret}`);
    const at = new Date(this.now());
    headers['webhook-id'] = req.idempotencyKey;
    headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
    headers['webhook-signature'] = wh.sign(req.idempotencyKey, at, req.body ?? '');
    return headers;
  }

  private async deliver(change: TargetWrite, deadline: number): Promise<TargetResult> {
    let req: HttpRequestPlan;
    try {
      req = await this.requestOf(change);
    } catch (err) {
      return { status: 'rejected', reason: `body mapping failed: ${(err as Error).message}` };
    }
    try {
      await this.secret();
      await this.credentials?.headers();
    } catch (err) {
      return { status: 'retry', reason: `credential "${this.auth?.secretName}" unavailable: ${(err as Error).message}` };
    }
    let last = '';
    let refreshed = false;
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      if (this.now() >= deadline) return { status: 'retry', reason: `time budget of the invocation spent (last: ${last || 'not tried'})` };
      await this.options.limiter?.take();
      let waitMs: number | undefined;
      try {
        const res = await this.fetchImpl(req.url, {
          method: req.method,
          headers: await this.headersFor(req),
          ...(req.body !== undefined ? { body: req.body } : {}),
          redirect: 'follow',
          signal: AbortSignal.timeout(this.target.timeoutMs),
        });
        const text = await res.text().catch(() => '');
        if (res.status >= 200 && res.status < 300) return { status: 'written' };
        last = `HTTP ${res.status}`;
        // An expired OAuth2 token: fetch a new one and try again, once.
        if (res.status === 401 && !refreshed && this.credentials?.refresh()) {
          refreshed = true;
          attempt--;
          continue;
        }
        if (!(res.status === 408 || res.status === 429 || res.status >= 500)) {
          return { status: 'rejected', reason: `${req.method} answered ${res.status}`, detail: { status: res.status, body: text.slice(0, MAX_AUDIT_BODY) } };
        }
        waitMs = retryAfterMs(res.headers.get('retry-after'), this.now());
        const max = this.options.maxRetryAfterMs ?? 10_000;
        if (waitMs !== undefined && (waitMs > max || this.now() + waitMs >= deadline)) {
          return { status: 'retry', reason: `${last} asks to retry after ${Math.ceil(waitMs / 1000)}s: left to the queue's retry` };
        }
      } catch (err) {
        const e = err as Error;
        last = e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${this.target.timeoutMs} ms` : `${e.name}: ${e.message}`;
      }
      if (attempt < this.retry.maxAttempts) await this.retry.sleep(waitMs ?? backoffMs(this.retry, attempt));
    }
    return { status: 'retry', reason: `${last} after ${this.retry.maxAttempts} attempts` };
  }
}

/** Method for an op: a single method serves upserts (deletes use DELETE); `{upsert, delete}` picks per op. */
export function methodFor(method: HttpTargetConfig['method'], op: 'upsert' | 'delete'): string {
  if (typeof method === 'string') return op === 'upsert' ? method : 'DELETE';
  return op === 'upsert' ? method.upsert : (method.delete ?? 'DELETE');
}

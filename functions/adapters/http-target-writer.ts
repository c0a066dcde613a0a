import type jsonata from 'jsonata';
import { httpTargetAuth } from '../config/http-target-auth';
import type { FlowConfig, HttpTargetAuth } from '../config/schema';
import { randomUUID } from 'node:crypto';
import { eventId } from '../core/envelope';
import { targetRecord, type TargetRecord } from '../core/target-record';
import type { BatchTargetWriter, RemoteIdStore, Secrets, TargetResult, TargetWrite } from '../ports';
import { retryAfterMs } from './http-page-fetcher';
import { requestAuth, type RequestAuth } from './request-auth';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';
import { messageOf } from '../core/errors';
import { scrubbed } from '../core/scrub';
import { dotSegmentKey, echoForms, fill, methodFor, remoteIdOf, settled, type Answer } from './http-target-request';

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
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  /** Where the remote ids of created records are kept (required with `create`). */
  readonly remoteIds?: RemoteIdStore;
  /** OAuth2 token requests are logged here, never with a secret or token. */
  readonly log?: (message: string, attributes: Record<string, unknown>) => void;
}

/** Largest response body kept in the audit entry of a rejected record. */
export const MAX_AUDIT_BODY = 1000;

/** No attempt starts after this long since the batch began (keeps an invocation inside its timeout). */
const BATCH_BUDGET_MS = 20_000;

/** One request the writer sends (exported for tests). */
export interface HttpRequestPlan {
  readonly url: string;
  readonly method: string;
  readonly body?: string;
  readonly idempotencyKey: string;
  /** The record's version, sent as `X-Syncline-Version`: a body that is the bare record does not hold it. */
  readonly version: number;
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
  private readonly body?: BodyExpression;
  private readonly createBody?: BodyExpression;
  private readonly auth?: HttpTargetAuth;
  /** Bearer, basic, header and oauth2 credentials; `webhook` signs each request instead. */
  private readonly credentials?: RequestAuth;
  private credential?: Promise<string | undefined>;

  constructor(private readonly options: HttpTargetWriterOptions) {
    this.target = options.target;
    this.retry = resolveRetry({ maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 5000, ...options.retry });
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    if (this.target.body) this.body = bodyExpression(this.target.body);
    if (this.target.create?.body) this.createBody = bodyExpression(this.target.create.body);
    if (this.target.create && !options.remoteIds) throw new Error(`http target "${this.target.id}" has create but no remote id store was given`);
    this.auth = httpTargetAuth(this.target);
    if (this.auth && this.auth.type !== 'webhook') {
      const secrets = options.secrets ?? { get: async (name: string) => Promise.reject(new Error(`http target "${this.target.id}" names secret "${name}" but no secrets reader was given`)) };
      this.credentials = requestAuth(this.auth, { secrets, fetch: this.fetchImpl, now: this.now, timeoutMs: this.target.timeoutMs, ...(options.log ? { log: options.log } : {}) });
    }
  }

  async writeBatch(changes: readonly TargetWrite[]): Promise<Map<string, TargetResult>> {
    const results = new Map<string, TargetResult>();
    const budget: Budget = { deadline: this.now() + BATCH_BUDGET_MS, throttledUntil: 0, askedUntil: 0 };
    const queue = [...changes];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) results.set(c.key, this.auditable(await this.deliver(c, budget), c));
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 4, queue.length) }, worker));
    // A pause the API named (Retry-After) that outlasts the batch holds every key left to retry, not only those it refused.
    if (budget.askedUntil > this.now()) {
      for (const [key, result] of results) if (result.status === 'retry') results.set(key, { ...result, notBefore: budget.askedUntil });
    }
    return results;
  }

  /**
   * What a result's audit entry may quote: answer texts cut to MAX_AUDIT_BODY. A target meant to receive PII as it is
   * (`allowPii`) gets records whose values no mask covers, so its texts (a body mapping's error, an answer that echoes
   * the request) are first scrubbed of the record's values, as sent and as an API may echo them.
   */
  private auditable(result: TargetResult, change: TargetWrite): TargetResult {
    if (result.status === 'written') return result;
    const values = (this.target.allowPii?.length ?? 0) > 0 ? echoForms(targetRecord(change).data) : [];
    const clean = (text: string) => (values.length > 0 ? scrubbed(text, values) : text);
    const detail = result.status === 'rejected' && result.detail ? Object.fromEntries(Object.entries(result.detail).map(([k, v]) => [k, typeof v === 'string' ? clean(v).slice(0, MAX_AUDIT_BODY) : v])) : undefined;
    return { ...result, reason: clean(result.reason).slice(0, MAX_AUDIT_BODY), ...(detail ? { detail } : {}) };
  }

  /**
   * A body mapping's error: JSONata's message quotes values, in forms no scrub can list (a substring, a failed cast),
   * so a target that receives PII as it is (`allowPii`) gets only the error's code and position.
   */
  private mappingError(err: unknown): string {
    if ((this.target.allowPii?.length ?? 0) === 0) return messageOf(err);
    const e = (err ?? {}) as { code?: unknown; position?: unknown };
    return `${typeof e.code === 'string' ? e.code : 'error'}${typeof e.position === 'number' ? ` at position ${e.position}` : ''} (message left out: the target receives PII unmasked)`;
  }

  /** The request of one change (pure but for the JSONata evaluation). */
  async requestOf(change: TargetWrite, remoteId?: string): Promise<HttpRequestPlan> {
    const record = targetRecord(change);
    const method = methodFor(this.target.method, record.op);
    const url = fill(this.target.url, record.key, remoteId);
    const idempotencyKey = eventId(this.options.flowId, this.target.id, record.key, record.version);
    if (method === 'DELETE' && !this.body) return { url, method, idempotencyKey, version: record.version };
    return { url, method, idempotencyKey, version: record.version, body: JSON.stringify(await this.bodyOf(record)) };
  }

  private async bodyOf(record: TargetRecord): Promise<unknown> {
    if (!this.body) return record.op === 'delete' ? { key: record.key, op: 'delete', version: record.version, ts: record.ts } : record.data;
    return this.body(record);
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
    const headers: Record<string, string> = { 'idempotency-key': req.idempotencyKey, 'x-syncline-version': String(req.version), 'user-agent': 'syncline' };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    if (this.credentials) return { ...headers, ...(await this.credentials.headers()) };
    const secret = await this.secret();
    // A bundle for a flow whose http targets sign nothing leaves the Standard Webhooks library out (function-bundling.ts).
    if (secret !== undefined && (typeof __SYNCLINE_SIGNS_WEBHOOKS__ === 'undefined' || __SYNCLINE_SIGNS_WEBHOOKS__)) {
      const { Webhook } = await import('standardwebhooks');
      const wh = new Webhook(secret.startsWith('whsec_') ? secret : `whsec_${secret}`);
      const at = new Date(this.now());
      headers['webhook-id'] = req.idempotencyKey;
      headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
      headers['webhook-signature'] = wh.sign(req.idempotencyKey, at, req.body ?? '');
    }
    return headers;
  }

  private async deliver(change: TargetWrite, budget: Budget): Promise<TargetResult> {
    const escape = dotSegmentKey(this.target.url, change.key);
    if (escape) return { status: 'rejected', reason: escape };
    try {
      await this.secret();
      await this.credentials?.headers();
    } catch (err) {
      return { status: 'retry', reason: `credential "${this.auth?.secretName}" unavailable: ${messageOf(err)}` };
    }
    if (this.target.create) return this.createOrUpdate(change, budget);
    const req = await this.planned(change);
    if ('status' in req) return req;
    const answer = await this.exchange(req, budget);
    return answer.kind === 'retry' ? { status: 'retry', reason: answer.reason, ...(answer.untried ? { untried: true } : {}) } : settled(req, answer);
  }

  private async planned(change: TargetWrite, remoteId?: string): Promise<HttpRequestPlan | TargetResult> {
    try {
      return await this.requestOf(change, remoteId);
    } catch (err) {
      return { status: 'rejected', reason: `body mapping failed: ${this.mappingError(err)}` };
    }
  }

  /**
   * `create`: a key without a remote id is created once (claimed first, so concurrent deliveries do not create it
   * twice), its id kept; later versions update `{remoteId}`; a 404 there forgets the id and creates again.
   */
  private async createOrUpdate(change: TargetWrite, budget: Budget, recreated = false): Promise<TargetResult> {
    const create = this.target.create!;
    const remoteIds = this.options.remoteIds!;
    const { flow, targetId, key } = change;
    const op = change.view.deleted ? 'delete' : 'upsert';
    let remoteId = change.remoteId;
    if (remoteId === undefined) {
      // Nothing was created for this key: nothing to delete.
      if (op === 'delete') return { status: 'written' };
      const now = this.now();
      const owner = randomUUID();
      const claim = await remoteIds.claimCreate(flow, targetId, key, owner, now, now + CREATE_CLAIM_MS);
      // A claim that expires at once: the next delivery may create, as nothing was. If that write fails, the claim
      // still expires in a minute: the key's result stands.
      const release = () => remoteIds.claimCreate(flow, targetId, key, owner, this.now(), this.now() - 1).catch(() => undefined);
      // Not tried: on its last receive the record goes back to the queue rather than to the DLQ, as for a held key.
      if (claim === 'taken') return { status: 'retry', reason: `another delivery is creating ${key} at "${targetId}"`, untried: true };
      if ('remoteId' in claim) {
        remoteId = claim.remoteId;
      } else {
        let req: HttpRequestPlan;
        try {
          const record = targetRecord(change);
          const body = this.createBody ? await this.createBody(record) : await this.bodyOf(record);
          // One Idempotency-Key per key (and per remote id forgotten after a 404, kept with the marker so a retry
          // repeats it): an API that honours it creates the record once even if our answer was lost, and a record
          // deleted there is created again.
          const idempotencyKey = claim.forgotten === undefined ? eventId(flow, targetId, key, 'create') : eventId(flow, targetId, key, 'create', claim.forgotten);
          req = { url: fill(create.url, key), method: create.method, body: JSON.stringify(body), idempotencyKey, version: record.version };
        } catch (err) {
          return { status: 'rejected', reason: `create body mapping failed: ${this.mappingError(err)}` };
        }
        const answer = await this.exchange(req, budget, true);
        if (answer.kind === 'retry') {
          // Unknown whether it was created: the claim stands until it expires, and the retry carries the same key.
          if (answer.untried || answer.notActed) await release();
          return { status: 'retry', reason: answer.reason, ...(answer.untried ? { untried: true } : {}) };
        }
        // A 303 See Other after a POST points at what it created (RFC 9110 15.4.4): its Location names the record.
        const seeOther = answer.status === 303 && create.idPath === '$location' && answer.headers.get('location') !== null;
        if ((answer.status < 200 || answer.status >= 300) && !seeOther) {
          await release();
          return settled(req, answer);
        }
        const id = remoteIdOf(create.idPath, answer);
        if (id === undefined) {
          return { status: 'rejected', reason: `created, but the answer has no id at ${create.idPath}: the record exists at the target without a known id`, detail: { status: answer.status, body: answer.text } };
        }
        await remoteIds.setRemoteId(flow, targetId, key, id);
        return { status: 'written' };
      }
    }
    const req = await this.planned(change, remoteId);
    if ('status' in req) return req;
    const answer = await this.exchange(req, budget);
    if (answer.kind === 'retry') return { status: 'retry', reason: answer.reason, ...(answer.untried ? { untried: true } : {}) };
    if (answer.status === 404 && !recreated) {
      // Deleted at the target: forget the id; an upsert creates the record again.
      await remoteIds.setRemoteId(flow, targetId, key, null, remoteId);
      if (op === 'delete') return { status: 'written' };
      const { remoteId: _gone, ...rest } = change;
      return this.createOrUpdate(rest, budget, true);
    }
    return settled(req, answer);
  }

  /**
   * A request's turn: the API throttles the whole batch, so a key waits a short pause out (again if it grew, or began
   * while the key waited for its rate token) and then takes its rate token. Answers why not, for a pause too long to
   * wait: the key goes back to the queue rather than spend a request on it. `ownPause` is the pause this request
   * asked for, which it sleeps out itself.
   */
  private async turn(budget: Budget, ownPause: number, max: number): Promise<string | undefined> {
    let waited = 0;
    for (;;) {
      const until = budget.throttledUntil;
      if (until > this.now() && until !== ownPause && until !== waited) {
        const paused = until - this.now();
        if (paused > max || this.now() + paused >= budget.deadline) return `${budget.throttle}: not sent until ${new Date(until).toISOString()}`;
        await this.retry.sleep(paused);
        waited = until;
        continue;
      }
      await this.options.limiter?.take();
      const after = budget.throttledUntil;
      if (after <= this.now() || after === ownPause || after === waited) return undefined;
    }
  }

  /**
   * One request, retried on 408, 429, 5xx and timeouts within bounds; an expired OAuth2 token is fetched again once.
   * A create (`once`) is retried here only where the API did not act on it (408, 429, 503, no connection): after a
   * timeout or another 5xx it may have, and an API that ignores Idempotency-Key would create the record twice.
   */
  private async exchange(req: HttpRequestPlan, budget: Budget, once = false): Promise<Answer | { readonly kind: 'retry'; readonly reason: string; readonly untried?: boolean; readonly notActed?: boolean }> {
    let last = '';
    let refreshed = false;
    let notActed = false;
    // The pause this request asked for: it sleeps that out below; another's is waited for in `turn`.
    let ownPause = 0;
    const max = this.options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      if (this.now() >= budget.deadline) return { kind: 'retry', reason: `time budget of the invocation spent (last: ${last || 'not tried'})`, ...(last ? { notActed } : { untried: true }) };
      const held = await this.turn(budget, ownPause, max);
      if (held !== undefined) return { kind: 'retry', reason: held, ...(last ? { notActed } : { untried: true }) };
      let waitMs: number | undefined;
      try {
        const res = await this.fetchImpl(req.url, {
          method: req.method,
          headers: await this.headersFor(req),
          ...(req.body !== undefined ? { body: req.body } : {}),
          // A followed redirect turns a PUT or POST into a GET of another page, whose 2xx would count as delivered.
          redirect: 'manual',
          signal: AbortSignal.timeout(this.target.timeoutMs),
        });
        const text = await res.text().catch(() => '');
        last = `HTTP ${res.status}`;
        if (res.status === 401 && !refreshed && this.credentials?.refresh()) {
          refreshed = true;
          attempt--;
          continue;
        }
        if (!(res.status === 408 || res.status === 429 || res.status >= 500)) return { kind: 'answer', status: res.status, text, headers: res.headers };
        notActed = NOT_ACTED.has(res.status);
        if (once && !notActed) return { kind: 'retry', reason: `${last} to a create, which may have created the record: retried once the create claim expires` };
        const retryAfter = retryAfterMs(res.headers.get('retry-after'), this.now());
        // One wait, drawn once: what this request sleeps and what it holds the batch to are the same.
        waitMs = retryAfter ?? backoffMs(this.retry, attempt);
        if (res.status === 429 || res.status === 503) {
          ownPause = this.now() + waitMs;
          budget.throttledUntil = Math.max(budget.throttledUntil, ownPause);
          budget.throttle = `HTTP ${res.status} from the API`;
          if (retryAfter !== undefined) budget.askedUntil = Math.max(budget.askedUntil, ownPause);
        }
        if (retryAfter !== undefined && (retryAfter > max || this.now() + retryAfter >= budget.deadline)) {
          return { kind: 'retry', reason: `${last} asks to retry after ${Math.ceil(retryAfter / 1000)}s: left to the queue's retry`, notActed };
        }
      } catch (err) {
        const e = err as Error & { cause?: { code?: unknown } };
        last = e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${this.target.timeoutMs} ms` : `${e.name}: ${e.message}`;
        notActed = UNSENT.has(String(e.cause?.code));
        if (once && !notActed) return { kind: 'retry', reason: `${last} on a create, which may have created the record: retried once the create claim expires` };
      }
      if (attempt < this.retry.maxAttempts) await this.retry.sleep(waitMs ?? backoffMs(this.retry, attempt));
    }
    return { kind: 'retry', reason: `${last} after ${this.retry.maxAttempts} attempts`, notActed };
  }
}

/** One batch's limits: its time budget, and how long the API asked every request to wait (429, 503). */
interface Budget {
  readonly deadline: number;
  throttledUntil: number;
  /** The end of the latest pause the API named in a Retry-After (a backoff of ours is not one). */
  askedUntil: number;
  throttle?: string;
}

/** The longest `Retry-After` a batch waits out by default. */
const MAX_RETRY_AFTER_MS = 10_000;
/** A create claim outlives any one delivery attempt; a crashed creator's claim expires after this. */
const CREATE_CLAIM_MS = 60_000;
/** Answers that say the request was not acted on (RFC 9110: 408 before it was read, 429 and 503 refused). */
const NOT_ACTED = new Set([408, 429, 503]);
/** Network errors before the request was sent. */
const UNSENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether the bundle holds JSONata for body expressions, and the Standard Webhooks signer (esbuild define); undefined when unbundled. */
declare const __SYNCLINE_HTTP_BODY_EXPRESSIONS__: boolean | undefined;
declare const __SYNCLINE_SIGNS_WEBHOOKS__: boolean | undefined;

/** A record's request body by a JSONata expression. */
type BodyExpression = (record: TargetRecord) => Promise<unknown>;

/**
 * Compiled at first use, from a JSONata imported then: a bundle for a flow whose http targets have no body expression
 * leaves JSONata out (function-bundling.ts). The expression was checked at synth.
 */
function bodyExpression(source: string): BodyExpression {
  let compiled: Promise<jsonata.Expression> | undefined;
  return async (record) => {
    if (typeof __SYNCLINE_HTTP_BODY_EXPRESSIONS__ === 'undefined' || __SYNCLINE_HTTP_BODY_EXPRESSIONS__) {
      compiled ??= import('jsonata').then(({ default: jsonata }) => jsonata(source));
      const result = await (await compiled).evaluate(record.data ?? {}, { key: record.key, op: record.op, version: record.version, ts: record.ts, flow: record.flow });
      return result === undefined ? null : result;
    }
    throw new Error('this bundle holds no JSONata for body expressions');
  };
}

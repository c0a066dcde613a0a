import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { pullHttpSchema } from '../config/schema';
import { carriesCursor, cursorText, pageRequest } from '../core/pull/page-request';
import { itemsAt, nextPageToken, type PageToken } from '../core/pull/pagination';
import { RunStopError } from '../core/pull/run-stop';
import { lookedBack } from '../core/pull/run-state';
import type { PulledPage, PullReader, PullReadOptions, Secrets } from '../ports';
import { HttpPageFetcher, HttpPullError, redact, type JsonResponse } from './http-page-fetcher';
import { requestAuth, type RequestAuth, type RequestAuthOptions } from './request-auth';

export type PullHttpConfig = z.output<typeof pullHttpSchema>;

export interface HttpPullReaderOptions {
  readonly http: PullHttpConfig;
  /** Incremental mode: `{cursor}` and `cursorParam` carry the high-water mark. */
  readonly incremental?: boolean;
  /** Incremental mode: the request's mark is this much before the committed one (`cursorLookback`). */
  readonly lookbackMs?: number;
  readonly fetcher: HttpPageFetcher;
  /** Required with `http.auth`. */
  readonly secrets?: Secrets;
  /** Token requests (oauth2); `secrets` is taken from above. */
  readonly auth?: Omit<RequestAuthOptions, 'secrets'>;
}

/**
 * PullReader over a paginated JSON API; the continuation is the next page's token. Positions read `page N item M`.
 * A runaway guard stops the run as partial when a request repeats one of this run, when a page's items repeat the
 * previous page's, or when a next page is on another host (its credentials would go there).
 */
export class HttpPullReader implements PullReader {
  private readonly auth: RequestAuth;

  constructor(private readonly options: HttpPullReaderOptions) {
    if (options.http.auth && !options.secrets) throw new Error('HttpPullReader: auth needs secrets');
    this.auth = requestAuth(options.http.auth, { ...options.auth, secrets: options.secrets! });
  }

  async *pages(read: PullReadOptions): AsyncGenerator<PulledPage> {
    const { http, incremental } = this.options;
    const since = read.since === undefined ? undefined : lookedBack(read.since, this.options.lookbackMs ?? 0);
    const mark = incremental && (carriesCursor(http) || http.cursorParam) ? cursorText(http, since) : undefined;
    // cursorParam without cursorFormat carries the raw mark, as it always has (epoch ms gone back stays digits; an
    // ISO-8601 mark gone back is written as `iso`).
    const param = http.cursorFormat === undefined && since !== undefined && (since === read.since || /^\d+$/.test(since)) ? since : mark;
    const query = incremental && http.cursorParam && (read.since !== undefined || http.cursorStart !== undefined) && param !== undefined ? { [http.cursorParam]: param } : {};
    const origin = new URL(http.url).origin;
    const requested = new Set<string>();
    let previousItems: string | undefined;
    let token: PageToken | undefined = read.continuation ? (JSON.parse(read.continuation) as PageToken) : { page: 1 };
    while (token) {
      const req = pageRequest(http, token, mark, query);
      if (new URL(req.url).origin !== origin) {
        throw new RunStopError(`page ${token.page} is on another host (${new URL(req.url).origin}, not ${origin}): stopped rather than send credentials there`);
      }
      const fingerprint = `${req.method} ${req.url} ${req.body ?? ''}`;
      if (requested.has(fingerprint)) {
        throw new RunStopError(`runaway guard: page ${token.page} would request ${redact(req.url)} again (a cursor or next URL seen before in this run)`);
      }
      requested.add(fingerprint);
      const res = await this.send(req);
      const found = itemsAt(res.body, http.itemsPath);
      if ('error' in found) throw new HttpPullError(`page ${token.page}: ${found.error}`, res.status);
      const items = found.items.length ? createHash('sha256').update(JSON.stringify(found.items)).digest('hex') : undefined;
      if (items !== undefined && items === previousItems) {
        throw new RunStopError(`runaway guard: page ${token.page} repeats the items of page ${token.page - 1} (the API ignores the pagination parameter?)`);
      }
      previousItems = items;
      const page = token.page;
      const next = nextPageToken(http.pagination, token, { body: res.body, link: res.headers.get('link'), url: res.url, itemCount: found.items.length, baseUrl: http.url });
      yield {
        items: found.items.map((record, i) => ({ record, position: `page ${page} item ${i + 1}` })),
        next: next ? JSON.stringify(next) : undefined,
        label: `page ${page}`,
      };
      token = next;
    }
  }

  /** One request; after a 401, once more with fresh credentials when they can be had (OAuth2). */
  private async send(req: { url: string; method: 'GET' | 'POST'; body?: string }): Promise<JsonResponse> {
    try {
      return await this.options.fetcher.request({ ...req, headers: await this.auth.headers() });
    } catch (err) {
      if (!(err instanceof HttpPullError) || err.status !== 401 || !this.auth.refresh()) throw err;
      return this.options.fetcher.request({ ...req, headers: await this.auth.headers() });
    }
  }
}

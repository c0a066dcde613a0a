import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authorizationHeader, HttpPageFetcher, retryAfterMs } from '../../../functions/adapters/http-page-fetcher';
import { HttpPullReader } from '../../../functions/adapters/http-pull-reader';
import { pullHttpSchema } from '../../../functions/config/schema';
import type { PulledPage } from '../../../functions/ports';
import type { InexactNumber } from '../../../functions/core/json-safety';
import { FakeSecrets } from '../../fixtures/fakes';

/** A paginating API on 127.0.0.1 with scripted faults: 429 + Retry-After, one 503, one slow answer. */
let server: Server;
let base: string;
let requests: { url: string; auth?: string }[] = [];
let faults: Record<string, ('429' | '503' | '503-date' | 'slow' | '500' | '404')[]> = {};

const PEOPLE = Array.from({ length: 7 }, (_, i) => ({ id: i + 1 }));

function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, base);
  requests.push({ url: url.pathname + url.search, auth: req.headers.authorization });
  const page = Number(url.searchParams.get('page') ?? '1');
  const fault = faults[`${url.pathname}:${page}`]?.shift();
  if (fault === '429') return res.writeHead(429, { 'retry-after': '2' }).end('slow down');
  if (fault === '503') return res.writeHead(503, { 'retry-after': '1' }).end();
  if (fault === '503-date') return res.writeHead(503, { 'retry-after': new Date(Date.now() + 3000).toUTCString() }).end();
  if (fault === '500') return res.writeHead(500).end();
  if (fault === '404') return res.writeHead(404).end('{"message":"gone"}');
  const send = () => {
    const items = PEOPLE.slice((page - 1) * 3, page * 3);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (url.pathname === '/link' && page * 3 < PEOPLE.length) headers.link = `</link?page=${page + 1}>; rel="next", </link?page=1>; rel="first"`;
    if (url.pathname === '/cursor') {
      return res.writeHead(200, headers).end(JSON.stringify({ data: { people: items }, next: page * 3 < PEOPLE.length ? String(page + 1) : null }));
    }
    res.writeHead(200, headers).end(JSON.stringify(url.pathname === '/link' ? items : { results: items }));
  };
  // Numbers past what a double holds, written as an API that serialises 64-bit ids and decimals does.
  if (url.pathname === '/exact') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"id":9007199254740993,"amount":0.12345678901234567891}]}');
  if (fault === 'slow') setTimeout(send, 1000);
  else send();
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Warm up fetch (undici) so the first timed attempt does not pay its start-up.
  await (await fetch(`${base}/pages?page=9`)).text();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  requests = [];
  faults = {};
});

async function collect(reader: HttpPullReader, continuation?: string): Promise<PulledPage[]> {
  const out: PulledPage[] = [];
  for await (const p of reader.pages({ continuation })) out.push(p);
  return out;
}

describe('HttpPageFetcher and HttpPullReader against a local server', () => {
  it('follows Link pagination, honouring Retry-After on 429 and 503, and retrying a timed-out attempt', async () => {
    // Prepare
    faults = { '/link:1': ['429'], '/link:2': ['503'], '/link:3': ['slow'] };
    const waits: number[] = [];
    const fetcher = new HttpPageFetcher({ timeoutMs: 400, retry: { sleep: async (ms) => void waits.push(ms) } });
    const reader = new HttpPullReader({ http: pullHttpSchema.parse({ url: `${base}/link`, itemsPath: '', pagination: { type: 'link' }, auth: { type: 'bearer', secretName: 'api-token' } }), fetcher, secrets: new FakeSecrets({ 'api-token': 't0ken' }) });
    // Act
    const pages = await collect(reader);
    // Assess
    expect(pages.map((p) => p.items.map((i) => (i.record as { id: number }).id))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(pages[2]!.items[0]!.position).toBe('page 3 item 1');
    expect(pages[2]!.next).toBeUndefined();
    expect(waits.slice(0, 2)).toEqual([2000, 1000]);
    expect(waits).toHaveLength(3);
    expect(requests.map((r) => r.url)).toEqual(['/link', '/link', '/link?page=2', '/link?page=2', '/link?page=3', '/link?page=3']);
    expect(requests.every((r) => r.auth === 'Bearer t0ken')).toBe(true);
  });

  it('resumes from a continuation: cursor pagination with an items path', async () => {
    // Prepare
    const fetcher = new HttpPageFetcher({ retry: { sleep: async () => undefined } });
    const reader = new HttpPullReader({ http: pullHttpSchema.parse({ url: `${base}/cursor`, itemsPath: 'data.people', pagination: { type: 'cursor', cursorPath: 'next', param: 'page' } }), fetcher });
    const all = await collect(reader);
    // Act
    const resumed = await collect(reader, all[0]!.next);
    // Assess
    expect(all.flatMap((p) => p.items)).toHaveLength(7);
    expect(resumed.map((p) => p.label)).toEqual(['page 2', 'page 3']);
    expect(requests.at(-2)!.url).toBe('/cursor?page=2');
  });

  it('reads numbers a double cannot hold as their digits, for the pull to quarantine rather than round', async () => {
    // Prepare
    const reader = new HttpPullReader({ http: pullHttpSchema.parse({ url: `${base}/exact`, itemsPath: 'results' }), fetcher: new HttpPageFetcher() });

    // Act
    const [item] = (await collect(reader)).flatMap((p) => p.items);

    // Assess
    const record = item!.record as Record<string, InexactNumber>;
    expect([record.id!.text, record.amount!.text]).toEqual(['9007199254740993', '0.12345678901234567891']);
  });

  it('page-number pagination stops at the first empty page', async () => {
    const reader = new HttpPullReader({ http: pullHttpSchema.parse({ url: `${base}/pages`, itemsPath: 'results', pagination: { type: 'page', param: 'page', startAt: 1 } }), fetcher: new HttpPageFetcher() });
    const pages = await collect(reader);
    expect(pages.map((p) => p.items.length)).toEqual([3, 3, 1, 0]);
  });

  it('fails fast on a 404 and after bounded retries on repeated 5xx', async () => {
    // Prepare
    const sleep = async () => undefined;
    faults = { '/pages:1': ['404'], '/pages:2': ['500', '500', '500'] };
    const fetcher = new HttpPageFetcher({ retry: { maxAttempts: 3, sleep } });
    // Act / Assess
    await expect(fetcher.getJson(`${base}/pages?page=1&token=secret`)).rejects.toThrow(/HTTP 404$/);
    await expect(fetcher.getJson(`${base}/pages?page=2`)).rejects.toThrow(/failed after 3 attempts \(last: HTTP 500\)/);
    expect(requests.filter((r) => r.url === '/pages?page=2')).toHaveLength(3);
    expect(requests.filter((r) => r.url.startsWith('/pages?page=1'))).toHaveLength(1);
  });

  it('refuses a Retry-After beyond its limit instead of sleeping through the invocation', async () => {
    faults = { '/pages:1': ['503-date'] };
    const fetcher = new HttpPageFetcher({ maxRetryAfterMs: 1000, retry: { sleep: async () => undefined } });
    await expect(fetcher.getJson(`${base}/pages`)).rejects.toThrow(/asks to retry after \d+s, more than 1s/);
  });

  it('times out each attempt and reports it', async () => {
    faults = { '/pages:1': ['slow', 'slow'] };
    const fetcher = new HttpPageFetcher({ timeoutMs: 100, retry: { maxAttempts: 2, sleep: async () => undefined } });
    await expect(fetcher.getJson(`${base}/pages`)).rejects.toThrow(/timed out after 100 ms/);
  });
});

describe('helpers', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', Date.UTC(2026, 0, 1))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
  it('builds bearer and basic Authorization headers', () => {
    expect(authorizationHeader('bearer', 'abc')).toBe('Bearer abc');
    expect(authorizationHeader('basic', 'user:pa:ss')).toBe(`Basic ${Buffer.from('user:pa:ss').toString('base64')}`);
    expect(authorizationHeader('basic', '{"username":"u","password":"p"}')).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpPageFetcher } from '../../../functions/adapters/http-page-fetcher';
import { HttpPullReader } from '../../../functions/adapters/http-pull-reader';
import { clearTokenCache } from '../../../functions/adapters/request-auth';
import { RunStopError } from '../../../functions/core/pull/run-stop';
import type { PulledPage } from '../../../functions/ports';
import { pullHttpSchema } from '../../../functions/config/schema';
import { FakeSecrets } from '../../fixtures/fakes';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly auth?: string;
  readonly apiKey?: string;
  readonly body: string;
}
let server: Server;
let base: string;
let seen: Seen[] = [];
let tokenAnswers: { status: number; body: string }[] = [];
let issued = 0;
let valid = new Set<string>();
const RECORDS = Array.from({ length: 5 }, (_, i) => ({ Id: `r${i + 1}` }));

function handle(req: IncomingMessage, res: ServerResponse, body: string) {
  const url = new URL(req.url!, base);
  const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  if (url.pathname === '/token') {
    seen.push({ method: req.method!, url: url.pathname, body });
    const scripted = tokenAnswers.shift();
    if (scripted) return res.writeHead(scripted.status, { 'content-type': 'application/json' }).end(scripted.body);
    const token = `tok-${++issued}`;
    valid.add(token);
    // Salesforce's client-credentials answer has no expires_in: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
    return json(200, { access_token: token, token_type: 'Bearer', instance_url: base });
  }
  seen.push({ method: req.method!, url: url.pathname + url.search, auth: req.headers.authorization, apiKey: req.headers['x-api-key'] as string | undefined, body });
  if (url.pathname.startsWith('/services/data')) {
    // SOQL query and query locators: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm
    if (!valid.has((req.headers.authorization ?? '').replace('Bearer ', ''))) return json(401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
    const batch = url.pathname.endsWith('-2') ? 2 : 1;
    const records = batch === 1 ? RECORDS.slice(0, 3) : RECORDS.slice(3);
    return json(200, { totalSize: 5, done: batch === 2, ...(batch === 1 ? { nextRecordsUrl: '/services/data/v62.0/query/01gRO0000016PIAYA2-2' } : {}), records });
  }
  if (url.pathname === '/loop') {
    // An API that ignores the locator: batch 1 again, with a fresh locator each time.
    return json(200, { done: false, nextRecordsUrl: `/loop?locator=${seen.length}`, records: RECORDS.slice(0, 3) });
  }
  // An API whose cursor never moves on.
  if (url.pathname === '/stuck') return json(200, { next: 'same', records: [{ Id: `s${seen.length}` }] });
  if (url.pathname === '/elsewhere') return json(200, { next: 'http://example.invalid/steal', records: RECORDS.slice(0, 1) });
  if (url.pathname === '/rest/api/2/search') {
    // Jira Data Center's offset paging: https://support.atlassian.com/jira/kb/how-to-use-the-maxresults-api-parameter-for-jira-issue-search-rest-api
    const startAt = Number(url.searchParams.get('startAt') ?? '0');
    const maxResults = Number(url.searchParams.get('maxResults') ?? '50');
    return json(200, { startAt, maxResults, total: 5, issues: RECORDS.slice(startAt, startAt + maxResults) });
  }
  if (url.pathname === '/rest/api/3/search/jql') {
    // Jira Cloud's enhanced JQL search: nextPageToken and isLast in a POST body.
    // https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-post
    const b = JSON.parse(body || '{}') as { nextPageToken?: string };
    const start = b.nextPageToken ? Number(b.nextPageToken) : 0;
    const end = start + 2;
    return json(200, { issues: RECORDS.slice(start, end), nextPageToken: String(end), isLast: end >= RECORDS.length });
  }
  return json(404, { message: 'no such path' });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen = [];
  tokenAnswers = [];
  valid = new Set();
  clearTokenCache();
});

const fetcher = () => new HttpPageFetcher({ retry: { maxAttempts: 2, sleep: async () => undefined } });
const CLIENT = JSON.stringify({ clientId: 'cid', clientSecret: 'very-secret-value' });
const ids = (pages: PulledPage[]) => pages.flatMap((p) => p.items.map((i) => (i.record as { Id: string }).Id));
async function collect(reader: HttpPullReader, since?: string): Promise<PulledPage[]> {
  const out: PulledPage[] = [];
  for await (const p of reader.pages({ ...(since ? { since } : {}) })) out.push(p);
  return out;
}
function reader(http: Record<string, unknown>, options: { incremental?: boolean; lookbackMs?: number; log?: (m: string, a: Record<string, unknown>) => void } = {}) {
  return new HttpPullReader({
    http: pullHttpSchema.parse(http),
    incremental: options.incremental ?? false,
    ...(options.lookbackMs ? { lookbackMs: options.lookbackMs } : {}),
    fetcher: fetcher(),
    secrets: new FakeSecrets({ sf: CLIENT, key: 'k-123' }),
    auth: { ...(options.log ? { log: options.log } : {}) },
  });
}
const salesforce = (extra: Record<string, unknown> = {}) => ({
  url: `${base}/services/data/v62.0/query?q=SELECT+Id+FROM+Contact`,
  itemsPath: 'records',
  pagination: { type: 'next-url', path: 'nextRecordsUrl', donePath: 'done' },
  auth: { type: 'oauth2', tokenUrl: `${base}/token`, secretName: 'sf' },
  ...extra,
});

describe('HttpPullReader against APIs that behave as documented', () => {
  it('oauth2: fetches a token once, reuses it across runs, fetches again once after a 401, and never logs the secret', async () => {
    // Prepare
    const logs: string[] = [];
    const r = reader(salesforce(), { log: (m, a) => logs.push(`${m} ${JSON.stringify(a)}`) });

    // Act
    const first = await collect(r);
    const second = await collect(r);
    valid.clear(); // the session expires
    const third = await collect(r);

    // Assess
    expect(ids(first)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(ids(second)).toEqual(ids(first));
    expect(ids(third)).toEqual(ids(first));
    const tokenCalls = seen.filter((s) => s.url === '/token');
    expect(tokenCalls).toHaveLength(2);
    expect(new URLSearchParams(tokenCalls[0]!.body).get('grant_type')).toBe('client_credentials');
    expect(new URLSearchParams(tokenCalls[0]!.body).get('client_id')).toBe('cid');
    expect(seen.filter((s) => s.url.startsWith('/services')).map((s) => s.url)).toContain('/services/data/v62.0/query/01gRO0000016PIAYA2-2');
    expect(logs.join('\n')).toContain('oauth2 token fetched');
    expect(logs.join('\n')).not.toMatch(/very-secret-value|tok-\d/);
  });

  it('oauth2: a token endpoint answering 400, 500 or non-JSON fails the page with a clear error and no secret', async () => {
    // Prepare
    tokenAnswers = [
      { status: 400, body: JSON.stringify({ error: 'invalid_client', error_description: 'invalid client credentials' }) },
      { status: 500, body: 'oops' },
      { status: 200, body: '<html>login</html>' },
    ];
    const r = reader(salesforce());

    // Act / Assess
    await expect(collect(r)).rejects.toThrow(/answered HTTP 400 \(invalid_client: invalid client credentials\)$/);
    await expect(collect(r)).rejects.toThrow(/answered HTTP 500$/);
    const err = await collect(r).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/answered HTTP 200 with a body that is not a JSON object/);
    expect((err as Error).message).not.toContain('very-secret-value');
  });

  it('runaway guard: an API that answers batch 1 again with a fresh locator stops the run after two pages', async () => {
    // Act
    const r = reader({ url: `${base}/loop`, itemsPath: 'records', pagination: { type: 'next-url', path: 'nextRecordsUrl', donePath: 'done' } });
    const pages: PulledPage[] = [];
    const err = await (async () => {
      for await (const p of r.pages({})) pages.push(p);
    })().catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(RunStopError);
    expect((err as Error).message).toBe('runaway guard: page 2 repeats the items of page 1 (the API ignores the pagination parameter?)');
    expect(pages).toHaveLength(1);
    expect(seen).toHaveLength(2);
  });

  it('runaway guard: a cursor seen before in the run stops it as partial', async () => {
    // Act
    const r = reader({ url: `${base}/stuck`, itemsPath: 'records', pagination: { type: 'cursor', cursorPath: 'next', param: 'cursor' } });
    const err = await collect(r).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(RunStopError);
    expect((err as Error).message).toMatch(/^runaway guard: page 3 would request .*\/stuck\?\.\.\. again \(a cursor or next URL seen before in this run\)$/);
    expect(seen).toHaveLength(2);
  });

  it('refuses a next URL on another host instead of sending the credentials there', async () => {
    // Act
    const r = reader({ url: `${base}/elsewhere`, itemsPath: 'records', pagination: { type: 'next-url', path: 'next' }, auth: { type: 'header', name: 'x-api-key', secretName: 'key' } });
    const err = await collect(r).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(RunStopError);
    expect((err as Error).message).toBe(`page 2 is on another host (http://example.invalid, not ${base}): stopped rather than send credentials there`);
    expect(seen.map((s) => s.apiKey)).toEqual(['k-123']);
  });

  it('offset paging with startAt/maxResults/total (Jira) and {cursor} in JQL formatted by cursorFormat', async () => {
    // Prepare
    const r = reader(
      {
        url: `${base}/rest/api/2/search?jql=${encodeURIComponent('updated >= "{cursor}" ORDER BY updated')}`,
        itemsPath: 'issues',
        pagination: { type: 'offset', param: 'startAt', limitParam: 'maxResults', limit: 2, totalPath: 'total' },
        cursorFormat: 'yyyy/MM/dd HH:mm',
        cursorStart: '2026-01-01T00:00:00Z',
      },
      { incremental: true },
    );

    // Act
    const firstRun = await collect(r);
    const later = await collect(r, '2026-02-03T04:05:59.000Z');

    // Assess
    expect(ids(firstRun)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    const urls = seen.map((s) => new URL(s.url, base));
    expect(urls.slice(0, 3).map((u) => [u.searchParams.get('startAt'), u.searchParams.get('maxResults')])).toEqual([
      ['0', '2'],
      ['2', '2'],
      ['4', '2'],
    ]);
    expect(urls[0]!.searchParams.get('jql')).toBe('updated >= "2026/01/01 00:00" ORDER BY updated');
    expect(ids(later)).toHaveLength(5);
    expect(urls.length).toBe(6);
    expect(new URL(seen[3]!.url, base).searchParams.get('jql')).toBe('updated >= "2026/02/03 04:05" ORDER BY updated');
  });

  it('writes a pattern mark in cursorTimeZone (Jira reads JQL dates in the API user\'s zone), and cursorLookback goes back from the mark', async () => {
    // Prepare: Jira evaluates a JQL date literal in the time zone of the account that runs the search (JRACLOUD-74279).
    const jql = (zone: string, lookbackMs?: number) =>
      reader(
        { url: `${base}/rest/api/2/search?jql=${encodeURIComponent('updated >= "{cursor}"')}`, itemsPath: 'issues', pagination: { type: 'offset', param: 'startAt', limitParam: 'maxResults', limit: 5, totalPath: 'total' }, cursorFormat: 'yyyy/MM/dd HH:mm', cursorTimeZone: zone },
        { incremental: true, ...(lookbackMs ? { lookbackMs } : {}) },
      );
    const sent = () => new URL(seen.at(-1)!.url, base).searchParams.get('jql');

    // Act / Assess: 2026-03-01T10:00:32Z is 05:00 in New York (UTC-5 in March before DST), 19:00 in Tokyo.
    await collect(jql('America/New_York'), '2026-03-01T10:00:32Z');
    expect(sent()).toBe('updated >= "2026/03/01 05:00"');
    await collect(jql('Asia/Tokyo'), '2026-03-01T10:00:32Z');
    expect(sent()).toBe('updated >= "2026/03/01 19:00"');
    // Summer time: 2026-07-01T10:00Z is 06:00 in New York (UTC-4).
    await collect(jql('America/New_York'), '2026-07-01T10:00:00Z');
    expect(sent()).toBe('updated >= "2026/07/01 06:00"');
    await collect(jql('UTC', 5 * 60_000), '2026-03-01T10:00:32Z');
    expect(sent()).toBe('updated >= "2026/03/01 09:55"');
  });

  it('cursorParam carries the raw mark, or with cursorLookback the mark gone back as ISO-8601', async () => {
    // Prepare
    const tickets = (lookbackMs?: number) =>
      reader({ url: `${base}/rest/api/2/search`, itemsPath: 'issues', pagination: { type: 'offset', param: 'startAt', limitParam: 'maxResults', limit: 5 }, cursorParam: 'updated_since' }, { incremental: true, ...(lookbackMs ? { lookbackMs } : {}) });
    const sent = () => new URL(seen.at(-1)!.url, base).searchParams.get('updated_since');

    // Act / Assess
    await collect(tickets(), '2026-03-01T10:00:00.000+0000');
    expect(sent()).toBe('2026-03-01T10:00:00.000+0000');
    await collect(tickets(15 * 60_000), '2026-03-01T10:00:00.000+0000');
    expect(sent()).toBe('2026-03-01T09:45:00Z');
    // Epoch ms stays epoch ms; epoch seconds, micros or a sequence are no time it can go back from, and stay as they are.
    await collect(tickets(15 * 60_000), '1772359200000');
    expect(sent()).toBe(String(1772359200000 - 15 * 60_000));
    for (const raw of ['1772359200', '1772359200000000', '98765', '0001772359200']) {
      await collect(tickets(15 * 60_000), raw);
      expect(sent(), raw).toBe(raw);
    }
  });

  it('POST search: {cursor} and the cursor parameter go into the JSON body, stopPath ends the run', async () => {
    // Prepare
    const r = reader(
      {
        url: `${base}/rest/api/3/search/jql`,
        method: 'POST',
        body: { jql: 'updated >= {cursor}', maxResults: 2 },
        itemsPath: 'issues',
        pagination: { type: 'cursor', cursorPath: 'nextPageToken', param: 'nextPageToken', stopPath: 'isLast' },
        cursorFormat: 'epoch-ms',
      },
      { incremental: true },
    );

    // Act
    const pages = await collect(r, '2026-03-01T00:00:00Z');

    // Assess
    expect(ids(pages)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(seen.map((s) => s.method)).toEqual(['POST', 'POST', 'POST']);
    expect(seen.map((s) => JSON.parse(s.body) as unknown)).toEqual([
      { jql: `updated >= ${Date.parse('2026-03-01T00:00:00Z')}`, maxResults: 2 },
      { jql: `updated >= ${Date.parse('2026-03-01T00:00:00Z')}`, maxResults: 2, nextPageToken: '2' },
      { jql: `updated >= ${Date.parse('2026-03-01T00:00:00Z')}`, maxResults: 2, nextPageToken: '4' },
    ]);
  });
});

describe('pull config', () => {
  it('refuses {cursor} outside incremental mode and a body without POST, naming the path', () => {
    expect(pullHttpSchema.safeParse({ url: 'https://x.example/a', body: { a: 1 } }).error?.issues.map((i) => i.path.join('.'))).toEqual(['body']);
    expect(pullHttpSchema.safeParse({ url: 'https://x.example/a', cursorFormat: 'yy' }).error?.issues[0]?.message).toMatch(/must be "iso", "epoch-ms", "epoch-s" or a pattern/);
    expect(pullHttpSchema.safeParse({ url: 'https://x.example/a', cursorFormat: 'yyyy-MM-dd', cursorTimeZone: 'Mars/Olympus' }).error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['cursorTimeZone', 'must be an IANA time zone such as "America/New_York" or "UTC"'],
    ]);
    expect(pullHttpSchema.safeParse({ url: 'https://x.example/a', cursorTimeZone: 'Europe/Paris' }).error?.issues.map((i) => i.path.join('.'))).toEqual(['cursorTimeZone']);
    expect(pullHttpSchema.safeParse({ url: 'https://x.example/a', cursorFormat: 'yyyy-MM-dd', cursorTimeZone: 'Europe/Paris' }).success).toBe(true);
  });
});

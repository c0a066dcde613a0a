import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One local server holding the Jira Cloud, Salesforce and Freshservice APIs the recipes use, as each vendor documents them. */
export interface SaasMock {
  readonly url: string;
  readonly server: Server;
  readonly requests: { method: string; path: string; body: string; auth?: string }[];
  readonly jira: { issues: Map<string, { id: string; key: string; fields: Record<string, unknown> }>; pageTokens: Map<string, number> };
  readonly salesforce: { contacts: Record<string, unknown>[]; upserts: Map<string, Record<string, unknown>>; tokens: Set<string>; tokenFailure?: { status: number; body: string } };
  readonly freshservice: { tickets: Record<string, unknown>[]; updates: Map<string, Record<string, unknown>> };
  close(): Promise<void>;
}

export const JIRA_TOKEN = 'jira-api-token';
export const SF_CLIENT = { clientId: '3MVG9-client', clientSecret: 'sf-client-secret' };
export const FRESHSERVICE_KEY = 'fs-api-key';

export async function startSaasMock(): Promise<SaasMock> {
  const requests: SaasMock['requests'] = [];
  const jira: SaasMock['jira'] = { issues: new Map(), pageTokens: new Map() };
  const salesforce: SaasMock['salesforce'] = { contacts: [], upserts: new Map(), tokens: new Set() };
  const freshservice: SaasMock['freshservice'] = { tickets: [], updates: new Map() };
  let nextIssue = 10000;
  let nextToken = 0;
  let nextLocator = 0;
  const queryLocators = new Map<string, Record<string, unknown>[]>();

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, body, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));

    // Jira Cloud REST, basic auth with email:token. Search is the enhanced JQL search: only issue ids unless `fields`
    // asks for more, `nextPageToken` for the next page (absent on the last), `isLast`; the old search answers 410.
    // https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
    // https://developer.atlassian.com/changelog/#CHANGE-2046
    // https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/#api-rest-api-2-issue-post
    if (url.pathname.startsWith('/rest/api/')) {
      if (req.headers.authorization !== `Basic ${Buffer.from(`sync@example.com:${JIRA_TOKEN}`).toString('base64')}`) return json(401, { errorMessages: ['unauthorized'] });
      if (/^\/rest\/api\/[23]\/search$/.test(url.pathname)) {
        return json(410, { errorMessages: ['The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046'], errors: {} });
      }
      if (url.pathname === '/rest/api/3/search/jql' && req.method === 'GET') {
        const jql = url.searchParams.get('jql') ?? '';
        const since = /updated >= "([^"]+)"/.exec(jql)?.[1] ?? '1970/01/01 00:00';
        const all = [...jira.issues.values()].filter((i) => String(i.fields.updated).slice(0, 16).replace('T', ' ').replaceAll('-', '/') >= since);
        if (/^\s*(order by|$)/i.test(jql)) return json(400, { errorMessages: ['Unbounded JQL queries are not allowed here. Please add a search restriction to your query.'], errors: {} });
        const pageToken = url.searchParams.get('nextPageToken');
        if (pageToken !== null && !jira.pageTokens.has(pageToken)) return json(400, { errorMessages: ['Invalid nextPageToken.'], errors: {} });
        const start = pageToken === null ? 0 : jira.pageTokens.get(pageToken)!;
        const end = start + Number(url.searchParams.get('maxResults') ?? '50');
        const fields = (url.searchParams.get('fields') ?? 'id').split(',');
        const issues = all.slice(start, end).map((i) =>
          fields.length === 1 && fields[0] === 'id'
            ? { id: i.id }
            : { id: i.id, key: i.key, self: `http://127.0.0.1/rest/api/3/issue/${i.id}`, fields: fields.includes('*all') ? i.fields : Object.fromEntries(fields.filter((f) => f in i.fields).map((f) => [f, i.fields[f]])) },
        );
        if (end >= all.length) return json(200, { issues, isLast: true });
        const token = `CAEaAggD${jira.pageTokens.size}`;
        jira.pageTokens.set(token, end);
        return json(200, { issues, nextPageToken: token, isLast: false });
      }
      if (req.method === 'POST' && url.pathname === '/rest/api/2/issue') {
        const id = String(nextIssue++);
        const issue = { id, key: `SYN-${id}`, fields: { ...(JSON.parse(body).fields as Record<string, unknown>), updated: new Date().toISOString() } };
        jira.issues.set(id, issue);
        return json(201, { id, key: issue.key, self: `http://127.0.0.1/rest/api/2/issue/${id}` });
      }
      const m = /^\/rest\/api\/2\/issue\/([^/]+)$/.exec(url.pathname);
      if (m && req.method === 'PUT') {
        const issue = jira.issues.get(decodeURIComponent(m[1]!));
        if (!issue) return json(404, { errorMessages: ['Issue does not exist or you do not have permission to see it.'] });
        issue.fields = { ...issue.fields, ...(JSON.parse(body).fields as Record<string, unknown>) };
        return res.writeHead(204).end();
      }
    }

    // Salesforce: OAuth 2.0 client credentials (no expires_in in the answer), SOQL query with nextRecordsUrl, upsert by external id.
    // https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
    // https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm
    // https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
    if (url.pathname === '/services/oauth2/token') {
      if (salesforce.tokenFailure) return res.writeHead(salesforce.tokenFailure.status, { 'content-type': 'text/html' }).end(salesforce.tokenFailure.body);
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'client_credentials' || form.get('client_id') !== SF_CLIENT.clientId || form.get('client_secret') !== SF_CLIENT.clientSecret) {
        return json(400, { error: 'invalid_client', error_description: 'invalid client credentials' });
      }
      const token = `00Dsf!token-${++nextToken}`;
      salesforce.tokens.add(token);
      return json(200, { access_token: token, instance_url: 'http://127.0.0.1', id: 'https://login.salesforce.com/id/00D/005', token_type: 'Bearer', issued_at: String(Date.now()), signature: 'sig' });
    }
    if (url.pathname.startsWith('/services/data/')) {
      if (!salesforce.tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) return json(401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
      if (url.pathname === '/services/data/v62.0/query') {
        const since = /LastModifiedDate > (\S+)/.exec(url.searchParams.get('q') ?? '')?.[1] ?? '1970-01-01T00:00:00Z';
        const rows = salesforce.contacts.filter((c) => String(c.LastModifiedDate) > since);
        if (rows.length <= 2) return json(200, { totalSize: rows.length, done: true, records: rows });
        // The locator is opaque: the rest of the result is kept server-side under it.
        const locator = `01gD0000002HU6KIAW-${++nextLocator}`;
        queryLocators.set(locator, rows.slice(2));
        return json(200, { totalSize: rows.length, done: false, nextRecordsUrl: `/services/data/v62.0/query/${locator}-2`, records: rows.slice(0, 2) });
      }
      const more = /^\/services\/data\/v62\.0\/query\/(01gD[\w-]+)-2$/.exec(url.pathname);
      if (more && queryLocators.has(more[1]!) && url.search === '') {
        const rest = queryLocators.get(more[1]!)!;
        return json(200, { totalSize: rest.length + 2, done: true, records: rest });
      }
      const up = /^\/services\/data\/v62\.0\/sobjects\/Contact\/External_Id__c\/([^/]+)$/.exec(url.pathname);
      if (up && req.method === 'PATCH') {
        const ext = decodeURIComponent(up[1]!);
        const created = !salesforce.upserts.has(ext);
        salesforce.upserts.set(ext, JSON.parse(body) as Record<string, unknown>);
        return created ? json(201, { id: `003${ext}`, success: true, errors: [], created: true }) : res.writeHead(204).end();
      }
    }

    // Freshservice API v2: basic auth with the API key as user and X as password; updated_since; Link pagination.
    // https://api.freshservice.com/v2/#list_all_tickets  https://api.freshservice.com/v2/#update_ticket_priority
    if (url.pathname.startsWith('/api/v2/')) {
      if (req.headers.authorization !== `Basic ${Buffer.from(`${FRESHSERVICE_KEY}:X`).toString('base64')}`) return json(401, { code: 'invalid_credentials', message: 'You have to be logged in to perform this action.' });
      if (url.pathname === '/api/v2/tickets' && req.method === 'GET') {
        const since = url.searchParams.get('updated_since') ?? '1970-01-01T00:00:00Z';
        const page = Number(url.searchParams.get('page') ?? '1');
        const rows = freshservice.tickets.filter((t) => String(t.updated_at) >= since);
        const perPage = 2;
        const link: Record<string, string> = page * perPage < rows.length ? { link: `<http://${req.headers.host}${url.pathname}?updated_since=${encodeURIComponent(since)}&page=${page + 1}>; rel="next"` } : {};
        return json(200, { tickets: rows.slice((page - 1) * perPage, page * perPage) }, link);
      }
      const t = /^\/api\/v2\/tickets\/(\d+)$/.exec(url.pathname);
      if (t && req.method === 'PUT') {
        freshservice.updates.set(t[1]!, JSON.parse(body) as Record<string, unknown>);
        return json(200, { ticket: { id: Number(t[1]), ...JSON.parse(body) } });
      }
    }
    return json(404, { message: `no route ${req.method} ${url.pathname}` });
  };

  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    requests,
    jira,
    salesforce,
    freshservice,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

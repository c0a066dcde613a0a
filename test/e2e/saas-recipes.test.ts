import { createHmac } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { FRESHSERVICE_KEY, JIRA_TOKEN, SF_CLIENT, startSaasMock, type SaasMock } from '../support/saas-mocks';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-saas-recipes-0001').toString('base64');
const SF_ORG = '00D5e000000KQ2eEAG';
const stripe = new Stripe('sk_test_oracle');

/** The README recipes, pointed at the local vendor APIs. */
function recipesConfig(api: string) {
  return parseConfig(
    {
      flows: [
        {
          id: 'jira-issues',
          key: ['id'],
          sources: [
            {
              id: 'search',
              type: 'schedule',
              every: '15 minutes',
              mode: 'incremental',
              cursorField: 'fields.updated',
              cursorLookback: '5 minutes',
              http: {
                url: `${api}/rest/api/3/search/jql?jql=${encodeURIComponent('project = SYN AND updated >= "{cursor}" ORDER BY updated ASC')}&fields=summary,status,updated&maxResults=2`,
                itemsPath: 'issues',
                pagination: { type: 'cursor', cursorPath: 'nextPageToken', param: 'nextPageToken', stopPath: 'isLast' },
                auth: { type: 'basic', secretName: 'jira-basic' },
                cursorFormat: 'yyyy/MM/dd HH:mm',
                cursorTimeZone: 'Europe/Berlin',
              },
            },
            { id: 'hooks', type: 'webhook', auth: { type: 'jira', secretName: 'jira-webhook-secret' }, recordPath: 'issue', timestampField: '$event.timestamp', deleteWhen: { webhookEvent: ['jira:issue_deleted'] } },
          ],
          targets: [{ id: 'replica', type: 'dynamodb' }],
        },
        {
          id: 'crm-out',
          key: ['id'],
          sources: [{ id: 'crm', type: 'webhook' }],
          targets: [
            {
              id: 'jira',
              type: 'http',
              url: `${api}/rest/api/2/issue/{remoteId}`,
              method: 'PUT',
              body: '{"fields": {"summary": subject}}',
              create: { url: `${api}/rest/api/2/issue`, idPath: 'id', body: '{"fields": {"project": {"key": "SYN"}, "issuetype": {"name": "Task"}, "summary": subject}}' },
              auth: { type: 'basic', secretName: 'jira-basic' },
            },
            {
              id: 'salesforce',
              type: 'http',
              url: `${api}/services/data/v62.0/sobjects/Contact/External_Id__c/{key}`,
              method: 'PATCH',
              body: '{"Email": email, "LastName": name}',
              auth: { type: 'oauth2', tokenUrl: `${api}/services/oauth2/token`, secretName: 'sf-client' },
            },
          ],
        },
        {
          id: 'sf-contacts',
          key: ['Id'],
          sources: [
            {
              id: 'soql',
              type: 'schedule',
              every: '15 minutes',
              mode: 'incremental',
              cursorField: 'LastModifiedDate',
              http: {
                url: `${api}/services/data/v62.0/query?q=${encodeURIComponent('SELECT Id, Email, LastModifiedDate FROM Contact WHERE LastModifiedDate >= {cursor}')}`,
                itemsPath: 'records',
                pagination: { type: 'next-url', path: 'nextRecordsUrl', donePath: 'done' },
                auth: { type: 'oauth2', tokenUrl: `${api}/services/oauth2/token`, secretName: 'sf-client' },
              },
            },
            { id: 'outbound', type: 'webhook', format: 'salesforce-outbound', organizationId: SF_ORG, auth: { type: 'token', query: 'token', secretName: 'sf-outbound-token' } },
          ],
          targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'Id' }],
        },
        {
          id: 'fs-tickets',
          key: ['id'],
          sources: [
            {
              id: 'tickets',
              type: 'schedule',
              every: '15 minutes',
              mode: 'incremental',
              cursorField: 'updated_at',
              cursorLookback: '2 minutes',
              http: { url: `${api}/api/v2/tickets`, itemsPath: 'tickets', pagination: { type: 'link' }, cursorParam: 'updated_since', cursorStart: '2026-01-01T00:00:00Z', auth: { type: 'basic', secretName: 'fs-basic' } },
            },
            { id: 'workflow', type: 'webhook', auth: { type: 'token', header: 'x-syncline-token', secretName: 'fs-webhook-token' }, recordPath: 'ticket' },
          ],
          targets: [{ id: 'replica', type: 'dynamodb' }],
        },
        {
          id: 'dev-events',
          key: ['id'],
          sources: [
            {
              id: 'github',
              type: 'webhook',
              format: 'form',
              auth: { type: 'github', secretName: 'github-webhook-secret' },
              recordPath: 'issue',
              timestampField: 'updated_at',
              deleteWhen: { $headers: { 'x-github-event': ['issues'] }, action: ['deleted'] },
            },
            { id: 'stripe', type: 'webhook', auth: { type: 'stripe', secretName: 'stripe-webhook-secret' }, recordPath: 'data.object', timestampField: '$event.created' },
            // A Shopify delete names its topic only in X-Shopify-Topic (https://shopify.dev/docs/apps/build/webhooks/delivery-structure).
            { id: 'shopify', type: 'webhook', auth: { type: 'shopify', secretName: 'shopify-webhook-secret' }, timestampField: 'updated_at', deleteWhen: { $headers: { 'x-shopify-topic': ['customers/delete'] } } },
          ],
          targets: [{ id: 'replica', type: 'dynamodb' }],
        },
      ],
    },
    'e2e recipes',
  );
}

describe('SaaS recipes on the local runtime against local vendor APIs', () => {
  let rt: Runtime;
  let api: SaasMock;
  const logs: string[] = [];
  const record = (flow: string, key: string) => getJson(`${rt.url}/flows/${flow}/records/${encodeURIComponent(key)}`);
  const recordWhere = async (flow: string, key: string, ok: (r: any) => boolean) => {
    let last: unknown;
    try {
      return await waitFor(async () => {
        const r = await record(flow, key);
        last = r.json;
        return r.status === 200 && ok(r.json) ? r.json : undefined;
      }, `${flow}/${key}`);
    } catch (err) {
      // The last answer and the runtime's log show which step stalled.
      throw new Error(`${(err as Error).message}; last answer: ${JSON.stringify(last)}; log tail:\n${logs.slice(-40).join('\n')}`);
    }
  };
  const pull = async (flow: string, source: string) => (await fetch(`${rt.url}/flows/${flow}/sources/${source}/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json() as Promise<any>;
  const post = async (path: string, body: string, headers: Record<string, string>) => {
    const res = await fetch(`${rt.url}${path}`, { method: 'POST', headers, body });
    const text = await res.text();
    return { status: res.status, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    api = await startSaasMock();
    rt = await startRuntime({
      config: recipesConfig(api.url),
      port: 0,
      webhookSecret: SECRET,
      // As a --secrets file would give them; one from the environment, as SYNCLINE_SECRET_<NAME>.
      secrets: {
        'jira-basic': `sync@example.com:${JIRA_TOKEN}`,
        'jira-webhook-secret': 'jira-hook-secret',
        'sf-client': JSON.stringify(SF_CLIENT),
        'sf-outbound-token': 'sf-out-token',
        'fs-basic': `${FRESHSERVICE_KEY}:X`,
        'fs-webhook-token': 'fs-token',
        'github-webhook-secret': 'gh-secret',
        'stripe-webhook-secret': 'whsec_stripe_e2e',
      },
      env: { SYNCLINE_SECRET_SHOPIFY_WEBHOOK_SECRET: 'shpss_e2e' },
      visibilityTimeoutSeconds: 1,
      log: (l) => logs.push(l),
    });
  });
  afterAll(async () => {
    await rt?.stop();
    await api?.close();
  });

  it('Jira Cloud: incremental JQL pull with {cursor} and nextPageToken paging, signed issue webhooks', async () => {
    // Prepare
    const at = '2026-03-01T10:00:00.000Z';
    for (const n of [1, 2, 3]) api.jira.issues.set(`${n}`, { id: `${n}`, key: `SYN-${n}`, fields: { summary: `issue ${n}`, updated: at } });
    const event = { webhookEvent: 'jira:issue_updated', timestamp: Date.parse('2026-03-01T11:00:00Z'), issue: { id: '2', key: 'SYN-2', fields: { summary: 'edited in Jira', updated: '2026-03-01T11:00:00.000Z' } } };
    const body = JSON.stringify(event);

    // Act
    const summary = await pull('jira-issues', 'search');
    const hook = await post('/webhooks/jira-issues/hooks', body, { 'content-type': 'application/json', 'x-hub-signature': `sha256=${createHmac('sha256', 'jira-hook-secret').update(body).digest('hex')}`, 'x-atlassian-webhook-identifier': 'jira-delivery-1' });
    const replay = await post('/webhooks/jira-issues/hooks', body, { 'content-type': 'application/json', 'x-hub-signature': `sha256=${createHmac('sha256', 'jira-hook-secret').update(body).digest('hex')}`, 'x-atlassian-webhook-identifier': 'jira-delivery-1' });
    const unsigned = await post('/webhooks/jira-issues/hooks', body, { 'content-type': 'application/json' });

    // Assess
    expect(summary).toMatchObject({ pages: 2, records: 3, complete: true });
    const searches = api.requests.filter((r) => r.path.startsWith('/rest/api/3/search/jql')).map((r) => new URL(r.path, api.url).searchParams);
    expect(searches.map((s) => s.get('nextPageToken'))).toEqual([null, [...api.jira.pageTokens.keys()][0]]);
    // The mark is written in the API user's time zone (Berlin, UTC+1 in winter), as Jira reads JQL dates.
    expect(searches[0]!.get('jql')).toBe('project = SYN AND updated >= "1970/01/01 01:00" ORDER BY updated ASC');
    expect(hook.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(replay.json).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
    expect(unsigned.status).toBe(401);
    expect(unsigned.json.message).toContain('jira: missing X-Hub-Signature header');
    await recordWhere('jira-issues', '2', (r) => r.record.fields.summary === 'edited in Jira');
    await recordWhere('jira-issues', '3', (r) => r.record.key === 'SYN-3' && r.record.fields.summary === 'issue 3');
    // The next pull carries the high-water mark (10:00Z) in the JQL, 5 minutes earlier, in Berlin time.
    await pull('jira-issues', 'search');
    const next = api.requests.filter((r) => r.path.startsWith('/rest/api/3/search/jql')).at(-1)!;
    expect(new URL(next.path, api.url).searchParams.get('jql')).toBe('project = SYN AND updated >= "2026/03/01 10:55" ORDER BY updated ASC');
  });

  it('Jira Cloud and Salesforce as targets: an issue created once then updated, a contact upserted by external id with OAuth', async () => {
    // Act: three versions of one CRM record, sent together
    for (const [i, subject] of ['Printer jam', 'Printer jam (2nd floor)', 'Printer jam, fixed'].entries()) {
      const res = await postWebhook(`${rt.url}/webhooks/crm-out`, { id: 'c-1', subject, email: 'ada@example.com', name: `Lovelace ${i}` }, { secret: SECRET });
      expect(res.status).toBe(202);
    }

    // Assess
    // Changes merged in one batch share a version: wait for the last values, delivered to both targets.
    const r = await recordWhere('crm-out', 'c-1', (x) => x.record.name === 'Lovelace 2' && x.delivered.jira?.version === x.version && x.delivered.salesforce?.version === x.version);
    expect([...api.jira.issues.values()].filter((i) => i.fields.project)).toHaveLength(1);
    const created = [...api.jira.issues.values()].find((i) => i.fields.project)!;
    expect(r.remoteIds).toEqual({ jira: created.id });
    expect(created.fields.summary).toBe('Printer jam, fixed');
    const creates = api.requests.filter((q) => q.method === 'POST' && q.path === '/rest/api/2/issue');
    expect(creates).toHaveLength(1);
    expect(api.salesforce.upserts.get('c-1')).toEqual({ Email: 'ada@example.com', LastName: 'Lovelace 2' });
    expect(api.requests.filter((q) => q.path === '/services/oauth2/token').length).toBeGreaterThanOrEqual(1);
  });

  it('Salesforce: SOQL pull with OAuth (a fresh token after the session expires) and nextRecordsUrl, Outbound Messages acknowledged', async () => {
    // Prepare
    api.salesforce.contacts.push(...[1, 2, 3].map((n) => ({ attributes: { type: 'Contact' }, Id: `003A0000000000${n}AAA`, Email: `c${n}@example.com`, LastModifiedDate: `2026-03-01T09:0${n}:00.000+0000`.replace('+0000', 'Z') })));
    api.salesforce.tokens.clear();
    const xml = (org: string) => `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>${org}</OrganizationId><ActionId>04k5e000000CaRkAAK</ActionId><SessionId xsi:nil="true"/>
<EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/62.0</EnterpriseUrl><PartnerUrl>https://x.my.salesforce.com/services/Soap/u/62.0</PartnerUrl>
<Notification><Id>04l5e00000Gx7QzAAJ</Id><sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>003A00000000009AAA</sf:Id><sf:Email>om@example.com</sf:Email></sObject></Notification>
</notifications></soapenv:Body></soapenv:Envelope>`;

    // Act
    const summary = await pull('sf-contacts', 'soql');
    const ack = await post('/webhooks/sf-contacts/outbound?token=sf-out-token', xml(SF_ORG.slice(0, 15)), { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' });
    const otherOrg = await post('/webhooks/sf-contacts/outbound?token=sf-out-token', xml('00D000000000001'), { 'content-type': 'text/xml; charset=utf-8' });
    const badToken = await post('/webhooks/sf-contacts/outbound?token=nope', xml(SF_ORG), { 'content-type': 'text/xml; charset=utf-8' });

    // Assess
    expect(summary).toMatchObject({ pages: 2, records: 3, complete: true });
    expect(api.requests.some((q) => /^\/services\/data\/v62\.0\/query\/01gD0000002HU6KIAW-\d+-2$/.test(q.path))).toBe(true);
    expect(ack.status).toBe(200);
    expect(ack.text).toContain('<Ack>true</Ack>');
    expect(otherOrg.status).toBe(403);
    expect(badToken.status).toBe(401);
    expect(badToken.json.message).toContain('query parameter token');
    await recordWhere('sf-contacts', '003A00000000003AAA', (r) => r.record.Email === 'c3@example.com');
    await recordWhere('sf-contacts', '003A00000000009AAA', (r) => r.record.Email === 'om@example.com');
    expect(logs.join('\n')).not.toContain(SF_CLIENT.clientSecret);
    // The next pull asks from the mark on, inclusive: LastModifiedDate has whole seconds.
    await pull('sf-contacts', 'soql');
    const next = api.requests.filter((q) => q.path.startsWith('/services/data/v62.0/query?')).at(-1)!;
    expect(new URL(next.path, api.url).searchParams.get('q')).toBe('SELECT Id, Email, LastModifiedDate FROM Contact WHERE LastModifiedDate >= 2026-03-01T09:03:00Z');
  });

  it('Freshservice: tickets pulled with updated_since and Link paging; workflow webhooks with a token', async () => {
    // Prepare
    api.freshservice.tickets.push(...[1, 2, 3].map((n) => ({ id: n, subject: `ticket ${n}`, status: 2, updated_at: `2026-03-0${n}T08:00:00Z` })));

    // Act
    const summary = await pull('fs-tickets', 'tickets');
    const hook = await post('/webhooks/fs-tickets/workflow', JSON.stringify({ ticket: { id: 2, subject: 'ticket 2', status: 4 } }), { 'content-type': 'application/json', 'x-syncline-token': 'fs-token' });
    const again = await pull('fs-tickets', 'tickets');

    // Assess
    expect(summary).toMatchObject({ pages: 2, records: 3, complete: true });
    expect(api.requests.find((q) => q.path.startsWith('/api/v2/tickets'))!.path).toBe('/api/v2/tickets?updated_since=2026-01-01T00%3A00%3A00Z');
    expect(hook.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(again).toMatchObject({ complete: true });
    // The next pull reads from two minutes before the newest updated_at seen.
    expect(api.requests.filter((q) => q.path.startsWith('/api/v2/tickets')).at(-1)!.path).toContain('updated_since=2026-03-03T07%3A58%3A00Z');
    await recordWhere('fs-tickets', '1', (r) => r.record.subject === 'ticket 1');
  });

  it('bad input: an XML bomb, a malformed SOAP body and a failing token endpoint get a 4xx or a partial pull with a clear error, no secret logged', async () => {
    // Prepare
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications><OrganizationId>&lol1;</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>`;
    api.salesforce.tokens.clear();
    api.salesforce.tokenFailure = { status: 500, body: '<html>maintenance</html>' };

    // Act
    const bombed = await post('/webhooks/sf-contacts/outbound?token=sf-out-token', bomb, { 'content-type': 'text/xml' });
    const malformed = await post('/webhooks/sf-contacts/outbound?token=sf-out-token', '<soapenv:Envelope><soapenv:Body>', { 'content-type': 'text/xml' });
    const failed = await pull('sf-contacts', 'soql');
    api.salesforce.tokenFailure = undefined;

    // Assess
    expect(bombed.status).toBe(400);
    expect(bombed.json.message).toBe('a SOAP message must not contain a DOCTYPE or ENTITY declaration');
    expect(malformed.status).toBe(400);
    expect(failed).toMatchObject({ complete: false, pages: 0 });
    expect(failed.error).toMatch(/oauth2 token request to http:\/\/127\.0\.0\.1:\d+\/services\/oauth2\/token answered HTTP 500$/);
    expect(logs.join('\n')).not.toContain(SF_CLIENT.clientSecret);
    expect(logs.join('\n')).not.toContain('sf-out-token');
  });

  it('GitHub (form content type, ping skipped), Stripe and Shopify webhooks signed as each vendor signs them', async () => {
    // Prepare
    const issue = { action: 'edited', issue: { id: 1001, title: 'Bug', updated_at: '2026-03-01T10:00:00Z' } };
    const form = new URLSearchParams({ payload: JSON.stringify(issue) }).toString();
    const ping = JSON.stringify({ zen: 'Design for failure.', hook_id: 1 });
    const now = Math.floor(Date.now() / 1000);
    const stripeBody = JSON.stringify({ id: 'evt_1', type: 'customer.updated', created: now - 5, data: { object: { id: 'cus_1', email: 'a@example.com' } } });
    const shopBody = JSON.stringify({ id: 7654321, email: 'jon@example.com', updated_at: '2026-03-01T10:00:00-05:00' });

    // Act
    const gh = await post('/webhooks/dev-events/github', form, { 'content-type': 'application/x-www-form-urlencoded', 'x-hub-signature-256': await githubSign('gh-secret', form), 'x-github-delivery': 'g-1', 'x-github-event': 'issues' });
    const pinged = await post('/webhooks/dev-events/github', `payload=${encodeURIComponent(ping)}`, { 'content-type': 'application/x-www-form-urlencoded', 'x-hub-signature-256': await githubSign('gh-secret', `payload=${encodeURIComponent(ping)}`), 'x-github-delivery': 'g-2' });
    const st = await post('/webhooks/dev-events/stripe', stripeBody, { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: stripeBody, secret: 'whsec_stripe_e2e' }) });
    const stale = await post('/webhooks/dev-events/stripe', stripeBody, { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: stripeBody, secret: 'whsec_stripe_e2e', timestamp: now - 600 }) });
    const sh = await post('/webhooks/dev-events/shopify', shopBody, { 'content-type': 'application/json', 'x-shopify-hmac-sha256': createHmac('sha256', 'shpss_e2e').update(shopBody).digest('base64'), 'x-shopify-event-id': 'e-1', 'x-shopify-topic': 'customers/update' });

    // Assess
    expect(gh.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(pinged.json).toEqual({ accepted: 0, duplicates: 0, quarantined: 0, skipped: 1 });
    expect(st.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(stale.status).toBe(401);
    expect(sh.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    await recordWhere('dev-events', '1001', (r) => r.record.title === 'Bug');
    await recordWhere('dev-events', 'cus_1', (r) => r.record.email === 'a@example.com');
    await recordWhere('dev-events', '7654321', (r) => r.record.email === 'jon@example.com');

    // A delete's body is the id alone, with no updated_at: it is taken at its capture time.
    const gone = JSON.stringify({ id: 7654321 });
    const del = await post('/webhooks/dev-events/shopify', gone, { 'content-type': 'application/json', 'x-shopify-hmac-sha256': createHmac('sha256', 'shpss_e2e').update(gone).digest('base64'), 'x-shopify-event-id': 'e-2', 'x-shopify-topic': 'customers/delete' });
    expect(del.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    await waitFor(async () => ((await record('dev-events', '7654321')).status === 404 ? true : undefined), 'dev-events/7654321 deleted');

    // GitHub: a deleted comment carries its issue (https://docs.github.com/en/webhooks/webhook-events-and-payloads#issue_comment)
    // and deletes nothing; `edited` then `closed` in one second (updated_at has whole seconds), with delivery ids in the
    // other order, ends closed; `issues` `deleted` deletes.
    let n = 10;
    const github = async (event: string, action: string, at: string, fields: Record<string, unknown>) => {
      const body = new URLSearchParams({ payload: JSON.stringify({ action, issue: { id: 1001, updated_at: at, ...fields }, ...(event === 'issue_comment' ? { comment: { id: 9 } } : {}) }) }).toString();
      return post('/webhooks/dev-events/github', body, { 'content-type': 'application/x-www-form-urlencoded', 'x-hub-signature-256': await githubSign('gh-secret', body), 'x-github-delivery': `g-${90 - n++}`, 'x-github-event': event });
    };
    expect((await github('issue_comment', 'deleted', '2026-03-01T10:00:05Z', { title: 'Bug', state: 'open' })).json).toMatchObject({ accepted: 1 });
    await recordWhere('dev-events', '1001', (r) => r.record.state === 'open');
    await github('issues', 'edited', '2026-03-01T10:00:07Z', { title: 'Bug 2', state: 'open' });
    await github('issues', 'closed', '2026-03-01T10:00:07Z', { title: 'Bug 2', state: 'closed' });
    await recordWhere('dev-events', '1001', (r) => r.record.state === 'closed');
    await github('issues', 'deleted', '2026-03-01T10:00:09Z', { title: 'Bug 2', state: 'closed' });
    await waitFor(async () => ((await record('dev-events', '1001')).status === 404 ? true : undefined), 'dev-events/1001 deleted');
  });
});

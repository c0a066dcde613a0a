import { describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { flowSchema } from '../../../functions/config/schema';
import { hookEvent, hookFlow, hookHandler, jsonOf, QUEUE } from '../../support/webhook-harness';

const NOW = new Date('2026-03-01T12:00:00Z');
const token = { type: 'token', secretName: 'hook-secret', header: 'x-api-key' };
const send = (h: ReturnType<typeof hookHandler>, body: string, extra: Record<string, string> = {}) =>
  h.handler(hookEvent({ body, headers: { 'x-api-key': 'k', ...extra } }));

// Shape of an Outbound Message as the WSDL defines it:
// https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
const outbound = (org: string, contacts: { id: string; email: string }[]) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${org}</OrganizationId>
   <ActionId>04k5e000000CaRkAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5e000000KQ2e</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5e000000KQ2e</PartnerUrl>
${contacts
  .map(
    (c, i) => `   <Notification>
    <Id>04l5e00000Gx7Q${i}AAJ</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>${c.id}</sf:Id>
     <sf:Email>${c.email}</sf:Email>
     <sf:Phone/>
     <sf:LastModifiedDate>2026-03-01T11:59:00.000Z</sf:LastModifiedDate>
    </sObject>
   </Notification>`,
  )
  .join('\n')}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`;

describe('webhook record paths and timestamps', () => {
  it('takes the record at recordPath, and answers an event without one (GitHub ping) 202 with skipped', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: token, recordPath: 'issue' }), 'k', NOW);
    const body = JSON.stringify([{ action: 'opened', issue: { id: 1, title: 'a' } }, { zen: 'Keep it logically awesome.', hook_id: 9 }, { action: 'x', issue: 'not an object' }]);

    // Act
    const res = await send(h, body);

    // Assess
    expect(res.statusCode).toBe(202);
    expect(jsonOf(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0, skipped: 2 });
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data)).toEqual([{ id: 1, title: 'a' }]);
    expect((await h.quarantine.list('hooks')).items).toEqual([]);
  });

  it('audits a record quarantined at capture under its key, read where a rename moves it from', async () => {
    // Prepare: the key field `id` is `contact_id` as sent.
    const flow = flowSchema.parse({
      id: 'hooks',
      key: ['id'],
      sources: [{ id: 'src', type: 'webhook', auth: token, timestampField: 'updated_at' }],
      transform: { rename: { contact_id: 'id' } },
      targets: [{ id: 'replica', type: 'dynamodb' }],
    });
    const h = hookHandler(flow, 'k', NOW);

    // Act
    await send(h, JSON.stringify({ contact_id: 'c-42', updated_at: 'soon' }));

    // Assess
    expect(h.audit.entries.map((e) => [e.outcome, e.key])).toEqual([['quarantined', 'c-42']]);
  });

  it('sends a delete holding a number a double cannot hold, as the nearest double (an upsert with it is quarantined)', async () => {
    const h = hookHandler(hookFlow({ auth: token, deleteWhen: { event: ['deleted'] } }), 'k', NOW);
    const res = await send(h, '[{"event":"deleted","id":"x","n":12345678901234567890},{"event":"updated","id":"y","n":12345678901234567890}]');
    expect(jsonOf(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 1 });
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => [e.op, e.data])).toEqual([['delete', { event: 'deleted', id: 'x', n: 12345678901234567890 }]]);
  });

  it('matches deleteWhen against the whole event, reads $event.<path> timestamps and epoch seconds', async () => {
    // Prepare
    const flow = hookFlow({ auth: token, recordPath: 'issue', deleteWhen: { webhookEvent: ['jira:issue_deleted'] }, timestampField: '$event.timestamp' });
    const h = hookHandler(flow, 'k', NOW);
    const inRecord = hookHandler(hookFlow({ auth: token, timestampField: 'updated' }), 'k', NOW);
    const body = JSON.stringify([
      { webhookEvent: 'jira:issue_updated', timestamp: 1772366400000, issue: { id: '1' } },
      { webhookEvent: 'jira:issue_deleted', timestamp: 1772366401000, issue: { id: '2' } },
    ]);

    // Act
    await send(h, body);
    await send(inRecord, JSON.stringify([{ id: 's', updated: 1772366400 }, { id: 'str', updated: '1772366400' }, { id: 'ms', updated: 1772366400123 }]));

    // Assess
    const sent = h.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.op, e.ts])).toEqual([
      ['upsert', 1772366400000],
      ['delete', 1772366401000],
    ]);
    expect(inRecord.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.ts)).toEqual([1772366400000, 1772366400000, 1772366400123]);
  });

  it('refuses a timestampField in the request headers, which no vendor signs, and $event or $headers on a queue source', () => {
    // Prepare
    const refused = (source: Record<string, unknown>) =>
      flowSchema.safeParse({ id: 'x', key: ['id'], sources: [source], targets: [{ id: 'r', type: 'dynamodb' }] }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

    // Assess: Shopify signs the body only, so X-Shopify-Triggered-At could be forged on a replayed body.
    expect(refused({ id: 'w', type: 'webhook', auth: token, timestampField: '$headers.x-shopify-triggered-at' })).toEqual([expect.stringMatching(/^sources\.0\.timestampField: .*headers are not signed/)]);
    expect(refused({ id: 'q', type: 'sqs', timestampField: '$headers.sent' })).toEqual([expect.stringContaining('is a path in the record')]);
    expect(refused({ id: 'q', type: 'sqs', timestampField: '$event.time' })).toHaveLength(1);
  });

  it('gives a body sent again by a sender without delivery ids (hashed for replay) a new arrival: it may be a record set back', async () => {
    // Prepare: a token sender has no delivery id; its first delivery of the body fails after queuing.
    const h = hookHandler(hookFlow({ auth: token }), 'k', NOW);
    h.audit.failWrites = 1;
    const body = JSON.stringify({ id: 't1', status: 'open' });

    // Act
    await expect(send(h, body)).rejects.toThrow('injected audit failure');
    h.clock.advance(60_000);
    await send(h, body);

    // Assess: the second copy is timed by its own arrival, a minute later.
    const [first, again] = h.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(again!.ts - first!.ts).toBe(60_000);
  });

  it('refuses options that do not fit the format, naming the flow path', () => {
    // Act
    const result = flowSchema.safeParse({
      id: 'x',
      key: ['id'],
      sources: [{ id: 's', type: 'webhook', format: 'debezium', recordPath: 'a', organizationId: '00D5e000000KQ2e' }, { id: 't', type: 'webhook', auth: { type: 'github' } }],
      targets: [{ id: 'r', type: 'dynamodb' }],
    });

    // Assess
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['sources.0.recordPath', 'sources.0.organizationId', 'sources.1.auth.secretName']));
  });
});

describe('webhook form bodies', () => {
  it('reads the JSON in the payload field of a urlencoded body (GitHub form content type)', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: token, format: 'form', recordPath: 'issue' }), 'k', NOW);
    const body = new URLSearchParams({ payload: JSON.stringify({ action: 'edited', issue: { id: 5, title: 'é & =' } }) }).toString();

    // Act
    const res = await send(h, body, { 'content-type': 'application/x-www-form-urlencoded' });
    const bad = await send(h, 'payload=%7Bnot-json', { 'content-type': 'application/x-www-form-urlencoded' });
    const json = await send(h, '{"issue":{"id":1}}');

    // Assess
    expect(jsonOf(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE)[0]!.data).toEqual({ id: 5, title: 'é & =' });
    expect(bad.statusCode).toBe(400);
    expect(jsonOf(bad).message).toMatch(/^form field "payload" is not valid JSON/);
    expect(json.statusCode).toBe(400);
    expect(jsonOf(json).message).toContain('format "form"');
  });

  it('refuses a payload field nested past the depth limit with the limit, as a JSON body (the encoded form hides its depth)', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: token, format: 'form' }), 'k', NOW);

    // Act
    const deep = await send(h, `payload=${'%5B'.repeat(10_000)}${'%5D'.repeat(10_000)}`, { 'content-type': 'application/x-www-form-urlencoded' });
    const nested = await send(h, `payload=${encodeURIComponent(`{"id":1,"a":${'['.repeat(100)}${']'.repeat(100)}}`)}`, { 'content-type': 'application/x-www-form-urlencoded' });

    // Assess
    expect(deep.statusCode).toBe(400);
    expect(jsonOf(deep).message).toBe('form field "payload" nests 10000 levels deep; the limit is 64');
    expect(jsonOf(nested).message).toBe('form field "payload" nests 101 levels deep; the limit is 64');
    expect(h.publisher.bodies(QUEUE)).toHaveLength(0);
  });
});

describe('Salesforce Outbound Messages', () => {
  const source = { auth: { type: 'token', secretName: 'hook-secret', query: 'token' }, format: 'salesforce-outbound', organizationId: '00D5e000000KQ2eEAG' };
  const post = (h: ReturnType<typeof hookHandler>, body: string) => h.handler(hookEvent({ body, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' }, query: { token: 'k' } }));

  it('stores one record per sObject without the sf: prefixes and answers the SOAP Ack with 200', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ ...source, timestampField: 'LastModifiedDate' }, ['Id']), 'k', NOW);

    // Act: the 15-character form of the org id matches the configured 18-character one
    const res = await post(h, outbound('00D5e000000KQ2e', [{ id: '0035e00000ABCDeAAA', email: 'ada@example.com' }, { id: '0035e00000ABCDfAAA', email: 'b&amp;c@example.com' }]));
    const resent = await post(h, outbound('00D5e000000KQ2e', [{ id: '0035e00000ABCDeAAA', email: 'ada@example.com' }, { id: '0035e00000ABCDfAAA', email: 'b&amp;c@example.com' }]));

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'text/xml; charset=utf-8' });
    expect(res.body).toContain('<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>');
    expect(resent.statusCode).toBe(200);
    const sent = h.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => e.data)).toEqual([
      { Id: '0035e00000ABCDeAAA', Email: 'ada@example.com', Phone: null, LastModifiedDate: '2026-03-01T11:59:00.000Z' },
      { Id: '0035e00000ABCDfAAA', Email: 'b&c@example.com', Phone: null, LastModifiedDate: '2026-03-01T11:59:00.000Z' },
    ]);
    expect(sent[0]!.ts).toBe(Date.parse('2026-03-01T11:59:00.000Z'));
  });

  it('decodes numeric character references (XML 1.0 section 4.1), keeps named HTML entities as text', async () => {
    // Prepare
    const h = hookHandler(hookFlow(source, ['Id']), 'k', NOW);

    // Act
    const res = await post(h, outbound('00D5e000000KQ2e', [{ id: '0035e00000ABCDeAAA', email: 'ren&#233;&#x1F600;&#38;co&#x3C;&#13;x&nbsp;@example.com' }]));

    // Assess: &nbsp; is no XML entity, so it is text as sent.
    expect(res.statusCode).toBe(200);
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data?.Email)).toEqual(['ren\u00e9\u{1F600}&co<\rx&nbsp;@example.com']);
  });

  it('refuses with 400 a character reference that names no XML character (&#0;, a surrogate, beyond U+10FFFF)', async () => {
    const h = hookHandler(hookFlow(source, ['Id']), 'k', NOW);
    for (const ref of ['&#0;', '&#xD800;', '&#x110000;', '&#xFFFE;']) {
      const res = await post(h, outbound('00D5e000000KQ2e', [{ id: '0035e00000ABCDeAAA', email: `a${ref}@example.com` }]));
      expect(res.statusCode, ref).toBe(400);
      expect(jsonOf(res).message, ref).toContain(`character reference ${ref} names no XML character`);
    }
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE)).toEqual([]);
    // In a CDATA section the same text is literal.
    const literal = await post(h, outbound('00D5e000000KQ2e', [{ id: '0035e00000ABCDeAAA', email: '<![CDATA[a&#0;@example.com]]>' }]));
    expect(literal.statusCode).toBe(200);
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data?.Email)).toEqual(['a&#0;@example.com']);
  });

  it('refuses a message of another org with 403 and stores nothing', async () => {
    // Prepare
    const h = hookHandler(hookFlow(source, ['Id']), 'k', NOW);

    // Act
    const res = await post(h, outbound('00D000000000001', [{ id: '003x', email: 'x@example.com' }]));

    // Assess
    expect(res.statusCode).toBe(403);
    expect(jsonOf(res).message).toBe('Outbound Message from organization 00D000000000001, but source "src" accepts only 00D5e000000KQ2e');
    expect(h.publisher.bodies(QUEUE)).toHaveLength(0);
    expect(h.audit.entries).toHaveLength(0);
  });

  it('refuses an XML bomb and a malformed SOAP body with 400, quickly', async () => {
    // Prepare
    const h = hookHandler(hookFlow(source, ['Id']), 'k', NOW);
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notifications><OrganizationId>&lol9;</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>`;

    // Act
    const bomb = await post(h, lol);
    const malformed = await post(h, '<soapenv:Envelope><soapenv:Body><notifications>');
    const notSoap = await post(h, '<hello>world</hello>');

    // Assess
    expect(bomb.statusCode).toBe(400);
    expect(jsonOf(bomb).message).toBe('a SOAP message must not contain a DOCTYPE or ENTITY declaration');
    expect(malformed.statusCode).toBe(400);
    expect(jsonOf(malformed).message).toMatch(/^body is not well-formed XML/);
    expect(notSoap.statusCode).toBe(400);
    expect(jsonOf(notSoap).message).toContain('no soapenv:Envelope/soapenv:Body/notifications element');
    expect(h.publisher.bodies(QUEUE)).toHaveLength(0);
  });
});

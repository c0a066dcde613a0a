import { createHmac } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import Stripe from 'stripe';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { hookEvent, hookFlow, hookHandler, jsonOf, QUEUE } from '../../support/webhook-harness';

const NOW = new Date('2026-03-01T12:00:00Z');
const nowS = Math.floor(NOW.getTime() / 1000);
const stripe = new Stripe('sk_test_oracle');
const hmac = (alg: string, secret: string, data: string, enc: 'hex' | 'base64') => createHmac(alg, secret).update(data).digest(enc);

describe('webhook auth schemes', () => {
  it('github: accepts X-Hub-Signature-256 as @octokit/webhooks-methods signs it, dedups by X-GitHub-Delivery', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: { type: 'github', secretName: 'hook-secret' } }), 'gh-secret', NOW);
    const body = JSON.stringify({ id: 'r1', name: 'syncline' });
    const headers = { 'X-Hub-Signature-256': await githubSign('gh-secret', body), 'X-GitHub-Delivery': 'd-1', 'X-GitHub-Event': 'repository' };

    // Act
    const first = await h.handler(hookEvent({ body, headers }));
    const again = await h.handler(hookEvent({ body, headers }));
    const forged = await h.handler(hookEvent({ body, headers: { ...headers, 'X-Hub-Signature-256': await githubSign('other', body) } }));

    // Assess
    expect(first.statusCode).toBe(202);
    expect(jsonOf(first)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(jsonOf(again)).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
    expect(forged.statusCode).toBe(401);
    expect(jsonOf(forged).message).toMatch(/^github: invalid X-Hub-Signature-256 signature; source "src" expects header X-Hub-Signature-256: sha256=/);
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE)).toHaveLength(1);
  });

  it('jira: X-Hub-Signature sha256=<hex>, delivery id X-Atlassian-Webhook-Identifier', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: { type: 'jira', secretName: 'hook-secret' }, recordPath: 'issue' }), 'jira-secret', NOW);
    const body = JSON.stringify({ webhookEvent: 'jira:issue_updated', timestamp: nowS * 1000, issue: { id: '10001', key: 'SYN-1' } });
    const sig = `sha256=${hmac('sha256', 'jira-secret', body, 'hex')}`;

    // Act
    const ok = await h.handler(hookEvent({ body, headers: { 'X-Hub-Signature': sig, 'X-Atlassian-Webhook-Identifier': 'jira-77' } }));
    const replay = await h.handler(hookEvent({ body, headers: { 'X-Hub-Signature': sig, 'X-Atlassian-Webhook-Identifier': 'jira-77' } }));
    const missing = await h.handler(hookEvent({ body }));

    // Assess
    expect(jsonOf(ok)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(jsonOf(replay)).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
    expect(missing.statusCode).toBe(401);
    expect(jsonOf(missing).message).toBe('jira: missing X-Hub-Signature header; source "src" expects header X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>');
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE)[0]!.data).toEqual({ id: '10001', key: 'SYN-1' });
  });

  it('shopify: base64 X-Shopify-Hmac-Sha256; X-Shopify-Event-Id with its topic, else X-Shopify-Webhook-Id, is the delivery id', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: { type: 'shopify', secretName: 'hook-secret' } }), 'shpss_secret', NOW);
    const body = JSON.stringify({ id: 7281937866911, email: 'jon@example.com' });
    const sig = hmac('sha256', 'shpss_secret', body, 'base64');

    // Act
    const byEvent = await h.handler(hookEvent({ body, headers: { 'X-Shopify-Hmac-Sha256': sig, 'X-Shopify-Event-Id': 'ev-1', 'X-Shopify-Webhook-Id': 'wh-1' } }));
    const sameEventOtherWebhook = await h.handler(hookEvent({ body, headers: { 'X-Shopify-Hmac-Sha256': sig, 'X-Shopify-Event-Id': 'ev-1', 'X-Shopify-Webhook-Id': 'wh-2' } }));
    const hexInstead = await h.handler(hookEvent({ body, headers: { 'X-Shopify-Hmac-Sha256': hmac('sha256', 'shpss_secret', body, 'hex') } }));
    // One merchant action, two topics: the same Event-Id, each topic its own delivery; a retry keeps its Webhook-Id.
    const topic = (t: string, webhookId: string) => h.handler(hookEvent({ body, headers: { 'X-Shopify-Hmac-Sha256': sig, 'X-Shopify-Event-Id': 'ev-2', 'X-Shopify-Topic': t, 'X-Shopify-Webhook-Id': webhookId } }));
    const created = await topic('products/create', 'wh-3');
    const updated = await topic('products/update', 'wh-4');
    const updatedAgain = await topic('products/update', 'wh-4');
    const byWebhookOnly = await h.handler(hookEvent({ body, headers: { 'X-Shopify-Hmac-Sha256': sig, 'X-Shopify-Webhook-Id': 'wh-5' } }));
    const byWebhookOnlyAgain = await h.handler(hookEvent({ body, headers: { 'X-Shopify-Hmac-Sha256': sig, 'X-Shopify-Webhook-Id': 'wh-5' } }));

    // Assess
    expect(jsonOf(byEvent)).toMatchObject({ accepted: 1 });
    expect(jsonOf(sameEventOtherWebhook)).toMatchObject({ accepted: 0, duplicates: 1 });
    expect([created, updated, updatedAgain].map(jsonOf)).toMatchObject([{ accepted: 1 }, { accepted: 1 }, { accepted: 0, duplicates: 1 }]);
    expect([byWebhookOnly, byWebhookOnlyAgain].map(jsonOf)).toMatchObject([{ accepted: 1 }, { accepted: 0, duplicates: 1 }]);
    expect(hexInstead.statusCode).toBe(401);
    expect(jsonOf(hexInstead).message).toContain('expects header X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body>');
  });

  it('shopify: a products/delete, named only by its X-Shopify-Topic header, is a delete with deleteWhen $headers', async () => {
    // Prepare: the topic is a header and a delete's body is the id alone (https://shopify.dev/docs/apps/build/webhooks/delivery-structure).
    const flow = hookFlow({ auth: { type: 'shopify', secretName: 'hook-secret' }, deleteWhen: { $headers: { 'x-shopify-topic': ['products/delete'] } } });
    const h = hookHandler(flow, 'shpss_secret', NOW);
    const send = (topic: string, eventId: string, record: Record<string, unknown>) => {
      const body = JSON.stringify(record);
      const headers = { 'X-Shopify-Hmac-Sha256': hmac('sha256', 'shpss_secret', body, 'base64'), 'X-Shopify-Topic': topic, 'X-Shopify-Event-Id': eventId };
      return h.handler(hookEvent({ body, headers }));
    };

    // Act
    await send('products/update', 'ev-1', { id: 9554194432293, title: 'Shirt' });
    await send('products/delete', 'ev-2', { id: 9554194432293 });

    // Assess
    expect(h.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.op)).toEqual(['upsert', 'delete']);
  });

  it('stripe: Stripe-Signature from the stripe SDK, any of several v1, 5 minutes tolerance, the event id as delivery id', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: { type: 'stripe', secretName: 'hook-secret' }, recordPath: 'data.object', timestampField: '$event.created' }), 'whsec_stripe', NOW);
    const body = JSON.stringify({ id: 'evt_1', type: 'customer.updated', created: nowS - 30, data: { object: { id: 'cus_1', email: 'a@example.com' } } });
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_stripe', timestamp: nowS - 10 });
    const rolled = `${header},v1=${'0'.repeat(64)}`;
    const stale = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_stripe', timestamp: nowS - 301 });

    // Act
    const ok = await h.handler(hookEvent({ body, headers: { 'Stripe-Signature': rolled } }));
    const retried = await h.handler(hookEvent({ body, headers: { 'Stripe-Signature': header } }));
    const old = await h.handler(hookEvent({ body, headers: { 'Stripe-Signature': stale } }));

    // Assess
    expect(jsonOf(ok)).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(jsonOf(retried)).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
    expect(old.statusCode).toBe(401);
    expect(jsonOf(old).message).toMatch(/^stripe: Stripe-Signature timestamp is more than 300 seconds off; source "src" expects header Stripe-Signature/);
    const [env] = h.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(env).toMatchObject({ data: { id: 'cus_1', email: 'a@example.com' }, ts: (nowS - 30) * 1000 });
  });

  it('hmac: a configurable header, algorithm, encoding, prefix and id header', async () => {
    // Prepare
    const auth = { type: 'hmac', secretName: 'hook-secret', header: 'X-Signature', algorithm: 'sha512', encoding: 'base64', prefix: 'v0=', idHeader: 'X-Delivery' };
    const h = hookHandler(hookFlow({ auth }), 'generic', NOW);
    const body = JSON.stringify({ id: 'x1' });
    const sig = `v0=${hmac('sha512', 'generic', body, 'base64')}`;

    // Act
    const ok = await h.handler(hookEvent({ body, headers: { 'X-Signature': sig, 'X-Delivery': 'dl-1' } }));
    const sha256 = await h.handler(hookEvent({ body, headers: { 'X-Signature': `v0=${hmac('sha256', 'generic', body, 'base64')}` } }));

    // Assess
    expect(jsonOf(ok)).toMatchObject({ accepted: 1 });
    expect(jsonOf(sha256).message).toBe('hmac: invalid X-Signature signature; source "src" expects header X-Signature: v0=<base64 HMAC-SHA512 of the raw body>');
  });

  it('token: a bearer Authorization header, a bare x-api-key header or a query parameter; a repeated body is a duplicate within 24 hours', async () => {
    // Prepare
    const bearer = hookHandler(hookFlow({ auth: { type: 'token', secretName: 'hook-secret', header: 'authorization' } }), 'tok-1', NOW);
    const apiKey = hookHandler(hookFlow({ auth: { type: 'token', secretName: 'hook-secret', header: 'x-api-key' } }), 'tok-1', NOW);
    const query = hookHandler(hookFlow({ auth: { type: 'token', secretName: 'hook-secret', query: 'token' } }), 'tok-1', NOW);
    const body = JSON.stringify({ id: 't1', status: 'Open' });

    // Act
    const b1 = await bearer.handler(hookEvent({ body, headers: { authorization: 'Bearer tok-1' } }));
    const b2 = await bearer.handler(hookEvent({ body, headers: { authorization: 'Bearer tok-1' } }));
    bearer.clock.advance(24 * 3600 * 1000 + 1);
    const b3 = await bearer.handler(hookEvent({ body, headers: { authorization: 'Bearer tok-1' } }));
    const bare = await bearer.handler(hookEvent({ body, headers: { authorization: 'tok-1' } }));
    const key = await apiKey.handler(hookEvent({ body, headers: { 'x-api-key': 'tok-1' } }));
    const wrongKey = await apiKey.handler(hookEvent({ body, headers: { 'x-api-key': 'tok-2' } }));
    const q = await query.handler(hookEvent({ body, query: { token: 'tok-1' } }));
    const noQuery = await query.handler(hookEvent({ body, headers: { authorization: 'Bearer tok-1' } }));

    // Assess
    expect([b1, b2, b3].map((r) => jsonOf(r).accepted)).toEqual([1, 0, 1]);
    expect(jsonOf(b2).duplicates).toBe(1);
    expect(jsonOf(bare).message).toBe('token: Authorization is not "Bearer <token>"; source "src" expects header authorization: Bearer <token>');
    expect(jsonOf(key)).toMatchObject({ accepted: 1 });
    expect(wrongKey.statusCode).toBe(401);
    expect(jsonOf(q)).toMatchObject({ accepted: 1 });
    expect(jsonOf(noQuery).message).toBe('token: missing query parameter token; source "src" expects query parameter token: <token>');
  });

  it('basic: user:password in Authorization: Basic', async () => {
    // Prepare
    const h = hookHandler(hookFlow({ auth: { type: 'basic', secretName: 'hook-secret' } }), 'sync:p@ss:word', NOW);
    const body = JSON.stringify({ id: 'b1' });
    const basic = (v: string) => `Basic ${Buffer.from(v).toString('base64')}`;

    // Act
    const ok = await h.handler(hookEvent({ body, headers: { authorization: basic('sync:p@ss:word') } }));
    const wrong = await h.handler(hookEvent({ body, headers: { authorization: basic('sync:nope') } }));

    // Assess
    expect(jsonOf(ok)).toMatchObject({ accepted: 1 });
    expect(wrong.statusCode).toBe(401);
    expect(jsonOf(wrong).message).toBe('basic: invalid user or password; source "src" expects header Authorization: Basic <base64 of user:password>');
  });

  it('refuses a request signed for another scheme, naming the scheme and header this source expects', async () => {
    // Prepare: a Standard Webhooks sender pointed at a GitHub source, and a GitHub signature at a Standard Webhooks source
    const gh = hookHandler(hookFlow({ auth: { type: 'github', secretName: 'hook-secret' } }), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', NOW);
    const sw = hookHandler(hookFlow({ auth: { type: 'standard-webhooks', secretName: 'hook-secret' } }), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', NOW);
    const body = JSON.stringify({ id: 'z' });
    const at = new Date();
    const swHeaders = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').sign('msg_1', at, body) };

    // Act
    const toGithub = await gh.handler(hookEvent({ body, headers: swHeaders }));
    const toStandard = await sw.handler(hookEvent({ body, headers: { 'X-Hub-Signature-256': await githubSign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', body) } }));
    const standardOk = await sw.handler(hookEvent({ body, headers: swHeaders }));

    // Assess
    expect(toGithub.statusCode).toBe(401);
    expect(jsonOf(toGithub).message).toContain('github: missing X-Hub-Signature-256 header');
    expect(toStandard.statusCode).toBe(401);
    expect(jsonOf(toStandard).message).toContain('standard-webhooks: missing webhook signature');
    expect(jsonOf(toStandard).message).toContain('expects headers webhook-id, webhook-timestamp and webhook-signature');
    expect(jsonOf(standardOk)).toMatchObject({ accepted: 1 });
    expect(gh.publisher.bodies(QUEUE)).toHaveLength(0);
  });
});

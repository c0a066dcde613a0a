import { accept, hmacOf, refuse, safeEqual, type WebhookVerifier } from './verifier';

export interface HmacHeaderScheme {
  readonly scheme: string;
  /** Header holding the signature (any case). */
  readonly header: string;
  readonly algorithm: 'sha1' | 'sha256' | 'sha512';
  readonly encoding: 'hex' | 'base64';
  /** Text before the digest, such as `sha256=`. */
  readonly prefix?: string;
  /** Headers holding the delivery id, first present wins. */
  readonly idHeaders?: readonly string[];
  /** The delivery id read from the (lower-cased) headers, where one header does not name it. */
  readonly idOf?: (headers: Readonly<Record<string, string>>) => string | undefined;
}

/** An HMAC of the raw body in one header: GitHub, Jira, Shopify and the generic `hmac` scheme. */
export function hmacHeaderVerifier(s: HmacHeaderScheme): WebhookVerifier {
  const header = s.header.toLowerCase();
  const prefix = s.prefix ?? '';
  const what = `${s.encoding} HMAC-${s.algorithm.toUpperCase()} of the raw body`;
  return {
    scheme: s.scheme,
    expects: `header ${s.header}: ${prefix}<${what}>`,
    verify(request, secret) {
      const value = request.headers[header];
      if (value === undefined || value === '') return refuse(`missing ${s.header} header`);
      if (!value.startsWith(prefix)) return refuse(`${s.header} does not start with "${prefix}"`);
      const expected = hmacOf(s.algorithm, secret, request.rawBody).toString(s.encoding);
      // Hex digests compare case-insensitively; base64 exactly.
      const given = value.slice(prefix.length).trim();
      const match = s.encoding === 'hex' ? safeEqual(given.toLowerCase(), expected) : safeEqual(given, expected);
      if (!match) return refuse(`invalid ${s.header} signature`);
      const id = s.idOf ? s.idOf(request.headers) : (s.idHeaders ?? []).map((h) => request.headers[h.toLowerCase()]).find((v) => v !== undefined && v !== '');
      return accept(id);
    },
  };
}

// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
export const githubVerifier = (): WebhookVerifier =>
  hmacHeaderVerifier({ scheme: 'github', header: 'X-Hub-Signature-256', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=', idHeaders: ['X-GitHub-Delivery'] });

// https://developer.atlassian.com/cloud/jira/platform/webhooks/ (secure admin webhooks: WebSub X-Hub-Signature)
export const jiraVerifier = (): WebhookVerifier =>
  hmacHeaderVerifier({ scheme: 'jira', header: 'X-Hub-Signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=', idHeaders: ['X-Atlassian-Webhook-Identifier'] });

// https://shopify.dev/docs/apps/build/webhooks/verify-deliveries (X-Shopify-Hmac-Sha256)
// https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates: a repeated X-Shopify-Event-Id is a duplicate. One
// merchant action may reach several topics under one event id, so the topic is part of the delivery id.
export const shopifyVerifier = (): WebhookVerifier =>
  hmacHeaderVerifier({
    scheme: 'shopify',
    header: 'X-Shopify-Hmac-Sha256',
    algorithm: 'sha256',
    encoding: 'base64',
    idOf: (h) => (h['x-shopify-event-id'] ? (h['x-shopify-topic'] ? `${h['x-shopify-event-id']} ${h['x-shopify-topic']}` : h['x-shopify-event-id']) : h['x-shopify-webhook-id'] || undefined),
  });

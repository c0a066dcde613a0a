import type { z } from 'zod';
import type { webhookAuthSchema } from '../../config/schema';
import { basicVerifier, tokenVerifier } from './credential-verifiers';
import { githubVerifier, hmacHeaderVerifier, jiraVerifier, shopifyVerifier } from './signature-verifiers';
import { standardWebhooksVerifier } from './standard-webhooks-verifier';
import { stripeVerifier } from './stripe-verifier';
import type { WebhookVerifier } from './verifier';

export type WebhookAuth = z.output<typeof webhookAuthSchema>;

/** The verifier of a source's `auth`: one table of every scheme. */
export function verifierFor(auth: WebhookAuth): WebhookVerifier {
  switch (auth.type) {
    case 'standard-webhooks':
      return standardWebhooksVerifier();
    case 'github':
      return githubVerifier();
    case 'jira':
      return jiraVerifier();
    case 'shopify':
      return shopifyVerifier();
    case 'stripe':
      return stripeVerifier(auth.toleranceSeconds);
    case 'hmac':
      return hmacHeaderVerifier({
        scheme: 'hmac',
        header: auth.header,
        algorithm: auth.algorithm,
        encoding: auth.encoding,
        ...(auth.prefix !== undefined ? { prefix: auth.prefix } : {}),
        ...(auth.idHeader ? { idHeaders: [auth.idHeader] } : {}),
      });
    case 'token':
      return tokenVerifier(auth);
    case 'basic':
      return basicVerifier(auth);
  }
}

export type { Verdict, WebhookRequest, WebhookVerifier } from './verifier';
export { bodyHash } from './verifier';

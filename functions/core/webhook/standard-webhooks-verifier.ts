import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { accept, refuse, type WebhookVerifier } from './verifier';

/** https://www.standardwebhooks.com/ through the `standardwebhooks` library (5 minutes tolerance). */
export function standardWebhooksVerifier(): WebhookVerifier {
  return {
    scheme: 'standard-webhooks',
    expects: 'headers webhook-id, webhook-timestamp and webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">',
    verify(request, secret) {
      try {
        new Webhook(secret.startsWith('whsec_') ? secret : `whsec_${secret}`).verify(request.rawBody, request.headers, { jsonParse: false });
      } catch (err) {
        if (err instanceof WebhookVerificationError) return refuse(reasonOf(err.message));
        throw err;
      }
      return accept(request.headers['webhook-id']);
    },
  };
}

function reasonOf(reason: string): string {
  if (/missing/i.test(reason)) return 'missing webhook signature: webhook-id, webhook-timestamp and webhook-signature headers are required';
  if (/too old|too new/i.test(reason)) return 'webhook-timestamp is more than 5 minutes off';
  if (/invalid signature headers/i.test(reason)) return 'webhook-timestamp is not a number of seconds';
  return 'invalid webhook signature';
}

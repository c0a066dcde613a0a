import { accept, hmacOf, refuse, safeEqual, type WebhookVerifier } from './verifier';

/**
 * `Stripe-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=...]`; any `v1` may match (secret rolling).
 * https://docs.stripe.com/webhooks#verify-manually
 */
export function stripeVerifier(toleranceSeconds = 300): WebhookVerifier {
  return {
    scheme: 'stripe',
    expects: 'header Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">',
    verify(request, secret, nowMs) {
      const header = request.headers['stripe-signature'];
      if (!header) return refuse('missing Stripe-Signature header');
      let t: string | undefined;
      const signatures: string[] = [];
      for (const part of header.split(',')) {
        const at = part.indexOf('=');
        if (at < 0) continue;
        const k = part.slice(0, at).trim();
        const v = part.slice(at + 1).trim();
        if (k === 't') t = v;
        else if (k === 'v1') signatures.push(v.toLowerCase());
      }
      if (t === undefined || !/^\d{1,12}$/.test(t)) return refuse('Stripe-Signature has no t=<unix seconds>');
      if (signatures.length === 0) return refuse('Stripe-Signature has no v1 signature');
      const expected = hmacOf('sha256', secret, `${t}.${request.rawBody}`).toString('hex');
      // Compare every candidate so the time taken does not say which one matched.
      const matched = signatures.map((s) => safeEqual(s, expected)).some(Boolean);
      if (!matched) return refuse('invalid Stripe-Signature: no v1 signature matches');
      if (Math.abs(nowMs / 1000 - Number(t)) > toleranceSeconds) return refuse(`Stripe-Signature timestamp is more than ${toleranceSeconds} seconds off`);
      return accept(eventIdOf(request.rawBody));
    },
  };
}

/** The event's `id`: Stripe's delivery id (the same event retried keeps it). */
function eventIdOf(rawBody: string): string | undefined {
  try {
    const id = (JSON.parse(rawBody) as { id?: unknown } | null)?.id;
    return typeof id === 'string' && id !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}

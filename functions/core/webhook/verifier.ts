import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** What a verifier sees of a request: lower-cased headers, query parameters and the raw body. */
export interface WebhookRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly rawBody: string;
}

/** A verified request, with the sender's delivery id when it sends one; or why it is refused. */
export type Verdict = { readonly ok: true; readonly deliveryId?: string } | { readonly ok: false; readonly reason: string };

/** One authentication scheme of webhook senders; the handler picks one per source from its `auth`. */
export interface WebhookVerifier {
  /** The scheme's name as configured (`github`, `stripe`, ...). */
  readonly scheme: string;
  /** What the source expects, for the 401: `header X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. */
  readonly expects: string;
  verify(request: WebhookRequest, secret: string, nowMs: number): Verdict;
}

/** Constant-time equality of two strings of any length (both are hashed first, so lengths do not leak). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && Buffer.byteLength(a) === Buffer.byteLength(b);
}

export function hmacOf(algorithm: 'sha1' | 'sha256' | 'sha512', secret: string, data: string): Buffer {
  return createHmac(algorithm, secret).update(data, 'utf8').digest();
}

/** Hash of a raw body: the replay key of senders that send no delivery id. */
export function bodyHash(rawBody: string): string {
  return `body:${createHash('sha256').update(rawBody, 'utf8').digest('hex')}`;
}

export const refuse = (reason: string): Verdict => ({ ok: false, reason });
export const accept = (deliveryId?: string): Verdict => (deliveryId ? { ok: true, deliveryId } : { ok: true });

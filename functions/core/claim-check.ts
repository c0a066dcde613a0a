/**
 * Claim check: a queue message too large for SQS (256 KB) is stored elsewhere (S3) and the queue carries a small
 * pointer instead. The pointer is a JSON object with one property, `syncline:claim`; no envelope or delivery
 * message has that property (they all carry `v`), so a pointer is never mistaken for one, nor one for a pointer.
 */
export const CLAIM_PROPERTY = 'syncline:claim';

/**
 * Bodies larger than this (UTF-8 bytes) are sent through the claim check. Below the 256 KB SQS limit so a
 * message with its attributes and the batch framing still fits.
 */
export const MAX_INLINE_BYTES = 250 * 1024;

/**
 * Keys the claim check writes: `claims/<yyyy-mm-dd>/<sha256 hex>.<16 hex>.json`. The random part gives each message
 * its own object, so the consumer can delete it once consumed without breaking another message with the same body.
 */
export const CLAIM_KEY_PATTERN = /^claims\/\d{4}-\d{2}-\d{2}\/[0-9a-f]{64}\.[0-9a-f]{16}\.json$/;

/** The message body that points at a stored payload. */
export function claimPointer(pointer: string): string {
  return JSON.stringify({ [CLAIM_PROPERTY]: pointer });
}

const POINTER_PREFIX = `{"${CLAIM_PROPERTY}":`;

/** The pointer a message body carries, or `undefined` when the body is an ordinary message. Cheap for ordinary bodies. */
export function claimOf(body: string): string | undefined {
  // A pointer is ~110 bytes; anything long or not starting like one is an ordinary body, so it is not parsed here.
  if (body.length > 1024 || !body.trimStart().startsWith(POINTER_PREFIX)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const keys = Object.keys(json);
  const value = (json as Record<string, unknown>)[CLAIM_PROPERTY];
  return keys.length === 1 && typeof value === 'string' ? value : undefined;
}

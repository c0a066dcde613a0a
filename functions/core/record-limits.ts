import { deflateRawSync } from 'node:zlib';

/**
 * Largest record a capture accepts: the claim check lifts the SQS limit, but state, audit and the targets still
 * bound what can flow (a DynamoDB item is at most 400 KB), so a hard cap keeps one record from tying up a batch.
 */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/**
 * What a key's state item (one DynamoDB item, 400 KB) can hold of its record, which it keeps deflated: 10 KB less,
 * for the clocks, recent decisions, delivery markers and attribute names beside it.
 */
export const MAX_STATE_RECORD_BYTES = 390 * 1024;

/**
 * Why a record (as JSON text) is too large for syncline, or undefined: larger than MAX_RECORD_BYTES, or, for an
 * upsert, too large for its key's state even deflated, so that resolve could never store it (a delete keeps no
 * values). Only a record larger than the state item raw is deflated to tell, so a typical record costs no compression.
 */
export function recordSizeProblem(json: string, op: 'upsert' | 'delete', what = 'record'): string | undefined {
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_RECORD_BYTES) return `${what} is larger than ${MAX_RECORD_BYTES} bytes, the largest record syncline carries`;
  if (op === 'delete' || bytes <= MAX_STATE_RECORD_BYTES) return undefined;
  const deflated = deflateRawSync(Buffer.from(json, 'utf8')).byteLength;
  if (deflated <= MAX_STATE_RECORD_BYTES) return undefined;
  return `${what} of ${bytes} bytes is still ${deflated} bytes deflated, more than the ${MAX_STATE_RECORD_BYTES} bytes its key's state can hold`;
}

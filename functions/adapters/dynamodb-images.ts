import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { exactNumber, InexactNumber } from '../core/json-safety';

/**
 * Unmarshalls an image into JSON-safe values: sets become sorted arrays and binary becomes base64. A number a
 * double cannot hold exactly (DynamoDB keeps 38 digits) becomes an InexactNumber, for the capture to refuse
 * with its path and digits.
 */
export function unmarshallImage(image: Record<string, unknown>): Record<string, unknown> {
  return jsonSafe(unmarshall(image as Record<string, AttributeValue>, { wrapNumbers: exactNumber })) as Record<string, unknown>;
}

function jsonSafe(value: unknown): unknown {
  if (value instanceof Set) {
    const items = [...value].map(jsonSafe);
    return items.sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof InexactNumber) return value;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
    return out;
  }
  return value;
}

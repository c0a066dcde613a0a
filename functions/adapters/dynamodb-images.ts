import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** Unmarshalls an image into JSON-safe values: sets become sorted arrays and binary becomes base64. */
export function unmarshallImage(image: Record<string, unknown>): Record<string, unknown> {
  return jsonSafe(unmarshall(image as Record<string, AttributeValue>, { wrapNumbers: false })) as Record<string, unknown>;
}

function jsonSafe(value: unknown): unknown {
  if (value instanceof Set) {
    const items = [...value].map(jsonSafe);
    return items.sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') throw new Error(`number ${value} is beyond the exact range of a JSON number`);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('an N value is not a number');
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
    return out;
  }
  return value;
}

/** What one DynamoDB item holds, names and values together. */
export const DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024;

/** The largest item kept whole, as DynamoDB sizes it: an item holds 400 KB, and keys, index attributes and TTL take some. */
export const MAX_ITEM_BYTES = 390 * 1024;

/**
 * An upper bound of a value's size as DynamoDB counts it: strings and names in UTF-8, a number about one byte per
 * two digits plus one, a list or map 3 bytes plus one per element (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
 * Not JSON's length: a list of small numbers or of empty maps is larger in DynamoDB than as JSON.
 */
export function itemBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return Math.ceil(String(value).replace(/[-.]|e.*$/gi, '').length / 2) + 2;
  if (typeof value === 'boolean' || value === null || value === undefined) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + 1 + itemBytes(v), 3);
  if (typeof value === 'object') return Object.entries(value).reduce((n, [k, v]) => n + 1 + Buffer.byteLength(k, 'utf8') + itemBytes(v), 3);
  return Buffer.byteLength(String(value), 'utf8');
}

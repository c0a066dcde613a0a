/**
 * MongoDB Extended JSON (v1 strict, as Debezium writes `after`/`before`, and v2 canonical or relaxed, as it writes
 * `updatedFields`) to plain JSON values. The wrappers are those of the specification,
 * https://www.mongodb.com/docs/manual/reference/mongodb-extended-json/ ; the strings are parsed keeping numbers' digits, and
 * only the handful of wrappers a document carries as plain values are unwrapped here.
 */

import { InexactNumber, jsonDepth, MAX_BODY_DEPTH, parseJsonExact } from '../json-safety';

/** Parses a document given as an Extended JSON string (or already as an object); undefined when it is not one. */
export function mongoDocument(v: unknown): Record<string, unknown> | undefined {
  let doc: unknown = v;
  if (typeof v === 'string') {
    // With its digits: relaxed Extended JSON writes an int64 as a plain number, which JSON.parse would round.
    if (jsonDepth(v) > MAX_BODY_DEPTH) return undefined;
    try {
      doc = parseJsonExact(v);
    } catch {
      return undefined;
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  return plain(doc) as Record<string, unknown>;
}

/**
 * `$oid` -> hex string, `$date` -> ISO-8601, `$numberLong`/`$numberInt` -> number (a string beyond 2^53, so no digit
 * is lost), `$numberDouble` -> number (NaN and infinities stay strings), `$numberDecimal` -> decimal string, a UUID
 * (`$uuid`, or `$binary` of subtype 04) -> its 8-4-4-4-12 hex string. Other wrappers (other `$binary`, `$timestamp`,
 * `$regularExpression`, ...) stay as they are.
 */
export function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  // A number of a document sent as an object, with the digits a double would lose (refused by the capture).
  if (v === null || typeof v !== 'object' || v instanceof InexactNumber) return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const [k] = keys;
    const inner = o[k!];
    switch (k) {
      case '$oid':
        if (typeof inner === 'string') return inner;
        break;
      case '$numberLong':
      case '$numberInt':
        if (typeof inner === 'string' && /^-?\d+$/.test(inner)) return Number.isSafeInteger(Number(inner)) ? Number(inner) : inner;
        break;
      case '$numberDouble':
        if (typeof inner === 'string') return Number.isFinite(Number(inner)) ? Number(inner) : inner;
        break;
      case '$numberDecimal':
        if (typeof inner === 'string') return inner;
        break;
      case '$date': {
        const iso = dateOf(inner);
        if (iso !== undefined) return iso;
        break;
      }
      case '$uuid':
        if (typeof inner === 'string') return inner.toLowerCase();
        break;
      case '$binary': {
        // Canonical Extended JSON v2: {"$binary": {"base64", "subType"}}; subtype 04 is a UUID.
        const b = inner !== null && typeof inner === 'object' ? (inner as Record<string, unknown>) : undefined;
        const uuid = b && (b.subType === '04' || b.subType === '4') && typeof b.base64 === 'string' ? uuidOf(b.base64) : undefined;
        if (uuid !== undefined) return uuid;
        break;
      }
      default:
        break;
    }
  }
  // Legacy Extended JSON: {"$binary": "<base64>", "$type": "04"}.
  if (keys.length === 2 && o.$type === '04' && typeof o.$binary === 'string') {
    const uuid = uuidOf(o.$binary);
    if (uuid !== undefined) return uuid;
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) Object.defineProperty(out, k, { value: plain(o[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

function dateOf(inner: unknown): string | undefined {
  let ms: number | undefined;
  if (typeof inner === 'number') ms = inner;
  else if (typeof inner === 'string') return Number.isFinite(Date.parse(inner)) ? new Date(Date.parse(inner)).toISOString() : undefined;
  else if (inner !== null && typeof inner === 'object' && typeof (inner as Record<string, unknown>).$numberLong === 'string') {
    ms = Number((inner as Record<string, unknown>).$numberLong);
  }
  if (ms === undefined || !Number.isFinite(ms)) return undefined;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** Sixteen bytes (base64) as a UUID's 8-4-4-4-12 hex string; undefined for any other length. */
function uuidOf(base64: string): string | undefined {
  const hex = Buffer.from(base64, 'base64').toString('hex');
  if (hex.length !== 32) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Column values of Debezium events: logical types decoded with the event's schema, and the placeholder of values the
 * connector could not read. Types as documented on
 * https://debezium.io/documentation/reference/stable/connectors/postgresql.html#postgresql-data-types (and the same
 * section of the MySQL, SQL Server and Oracle pages); JSON shapes as the JSON converter writes them
 * (https://kafka.apache.org/documentation/#connect_schemas: `bytes` as base64).
 */
import { InexactNumber, isJsonObject as isObject } from '../json-safety';
import { digitsOf } from './debezium-position';

/** Placeholder for a column whose value the connector does not have (an unchanged TOASTed PostgreSQL column). */
export const UNAVAILABLE = '__debezium_unavailable_value';
/** The same placeholder for `bytea`/binary columns, base64 as the JSON converter writes bytes. */
export const UNAVAILABLE_BYTES = Buffer.from(UNAVAILABLE, 'utf8').toString('base64');

/** Whether a column value is the placeholder (also as the one element of an array column, as PostgreSQL sends it). */
export function isUnavailable(v: unknown): boolean {
  if (v === UNAVAILABLE || v === UNAVAILABLE_BYTES) return true;
  if (Array.isArray(v)) {
    if (v.length === 1) return v[0] === UNAVAILABLE || v[0] === UNAVAILABLE_BYTES || v[0] === UNAVAILABLE_UUID;
    return v.length === UNAVAILABLE_CODES.length && v.every((n, i) => n === UNAVAILABLE_CODES[i]);
  }
  if (typeof v === 'string') return v.startsWith(`{"${UNAVAILABLE}"`) && isUnavailableHstore(parsedOrUndefined(v));
  return isUnavailableHstore(v);
}

/**
 * The other forms of PostgreSQL's placeholder (UnchangedToastedPlaceholder.java): an int, bigint or date array holds
 * its bytes as numbers, a uuid array the name-based UUID of them (Java's UUID.nameUUIDFromBytes), and an hstore maps it
 * to itself, as an object or, with `hstore.handling.mode=json`, as its JSON text.
 */
const UNAVAILABLE_CODES = [...Buffer.from(UNAVAILABLE, 'utf8')];
const UNAVAILABLE_UUID = 'b68a35a7-17ad-35b3-af2a-ae46edb4545a';

function isUnavailableHstore(v: unknown): boolean {
  if (!isObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === UNAVAILABLE && v[UNAVAILABLE] === UNAVAILABLE;
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A field of a Kafka Connect schema as the JSON converter writes it. */
export interface ConnectField {
  readonly field?: string;
  readonly type?: string;
  readonly name?: string;
  readonly parameters?: Record<string, unknown>;
  readonly fields?: readonly ConnectField[];
}

/** Column schemas of the `after` (else `before`) struct of an envelope schema, by column name. */
export function rowSchemaOf(schema: unknown): Map<string, ConnectField> | undefined {
  if (!isObject(schema) || !Array.isArray(schema.fields)) return undefined;
  const fields = schema.fields as ConnectField[];
  const row = fields.find((f) => f?.field === 'after' && Array.isArray(f.fields)) ?? fields.find((f) => f?.field === 'before' && Array.isArray(f.fields));
  if (!row?.fields) return undefined;
  return new Map(row.fields.filter((f) => typeof f?.field === 'string').map((f) => [f.field!, f]));
}

/**
 * The row with logical types decoded: decimals to decimal strings, `io.debezium.time.*` and Kafka Connect dates and
 * times to ISO-8601. A value that does not fit its type is left as it came, to be seen downstream rather than lost.
 */
export function decodeRow(row: Record<string, unknown>, columns: Map<string, ConnectField> | undefined): Record<string, unknown> {
  if (!columns) return row;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    const f = columns.get(k);
    const decoded = f?.name && v !== null && !isUnavailable(v) ? decodeValue(f, v) : undefined;
    Object.defineProperty(out, k, { value: decoded ?? v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const DAY_MS = 86_400_000;

function decodeValue(f: ConnectField, v: unknown): unknown {
  switch (f.name) {
    case 'org.apache.kafka.connect.data.Decimal': {
      const scale = Number(f.parameters?.scale ?? 0);
      return typeof v === 'string' && Number.isInteger(scale) ? decimalFromBytes(v, scale) : undefined;
    }
    case 'io.debezium.data.VariableScaleDecimal':
      return isObject(v) && typeof v.value === 'string' && Number.isInteger(v.scale) ? decimalFromBytes(v.value, v.scale as number) : undefined;
    case 'io.debezium.time.Date':
    case 'org.apache.kafka.connect.data.Date':
      return isInt(v) ? isoOf(v * DAY_MS)?.replace(/T.*$/, '') : undefined;
    case 'io.debezium.time.Time':
    case 'org.apache.kafka.connect.data.Time':
      return timeOfDay(v, 3);
    case 'io.debezium.time.MicroTime':
      return timeOfDay(v, 6);
    case 'io.debezium.time.NanoTime':
      return timeOfDay(v, 9);
    case 'io.debezium.time.Timestamp':
    case 'org.apache.kafka.connect.data.Timestamp':
      return localDateTime(v, 3);
    case 'io.debezium.time.MicroTimestamp':
      return localDateTime(v, 6);
    case 'io.debezium.time.NanoTimestamp':
      return localDateTime(v, 9);
    default:
      return undefined;
  }
}

/**
 * The longest Decimal decoded, as base64 (66 KB of bytes): no database's decimal is longer (PostgreSQL's numeric
 * holds 147,455 digits, 61 KB), and turning bytes into digits costs more than linear time (1 MB took 2.3 s).
 * A longer one is left as it came.
 */
const MAX_DECIMAL_BASE64 = 88 * 1024;

/**
 * Big-endian two's-complement bytes (base64) and a scale to a decimal string: `"MNQ="`, 3 -> `"12.500"`. A negative
 * scale (Oracle `NUMBER(P,S)` with S < 0) multiplies: `"ew=="`, -2 -> `"12300"`.
 */
export function decimalFromBytes(base64: string, scale: number): string | undefined {
  if (base64.length > MAX_DECIMAL_BASE64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || scale < -1000 || scale > 1000) return undefined;
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length === 0) return undefined;
  let n = BigInt(`0x${bytes.toString('hex')}`);
  if (bytes[0]! & 0x80) n -= 1n << BigInt(bytes.length * 8);
  const negative = n < 0n;
  if (scale < 0) return n === 0n ? '0' : `${n}${'0'.repeat(-scale)}`;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** An integer count of 10^-digits seconds as digits and sign, from a number, bigint or digit string. */
function unitsOf(v: unknown): { neg: boolean; digits: string } | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && Number.isInteger(v)) return { neg: v < 0, digits: digitsOf(Math.abs(v)) ?? BigInt(Math.abs(v)).toString() };
  if (typeof v === 'bigint') return { neg: v < 0n, digits: (v < 0n ? -v : v).toString() };
  if (v instanceof InexactNumber) return unitsOf(v.text);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return { neg: v.startsWith('-'), digits: v.replace(/^-/, '') };
  return undefined;
}

/** Splits a count of 10^-precision s into whole ms (as a number) and the digits below the ms. */
function split(v: unknown, precision: number): { ms: number; below: string } | undefined {
  const u = unitsOf(v);
  if (!u) return undefined;
  const shift = precision - 3;
  const padded = u.digits.padStart(shift + 1, '0');
  const whole = shift === 0 ? padded : padded.slice(0, -shift);
  const below = shift === 0 ? '' : padded.slice(-shift);
  let ms = Number(whole);
  if (!Number.isSafeInteger(ms)) return undefined;
  if (u.neg) {
    // Floor towards the past, so the digits below the ms stay positive.
    const borrow = /[1-9]/.test(below);
    ms = -ms - (borrow ? 1 : 0);
    const b = borrow ? (10n ** BigInt(shift) - BigInt(below)).toString().padStart(shift, '0') : below;
    return { ms, below: b };
  }
  return { ms, below };
}

function localDateTime(v: unknown, precision: number): string | undefined {
  const s = split(v, precision);
  if (!s) return undefined;
  const iso = isoOf(s.ms);
  // A timestamp without a time zone: the wall-clock time, with no offset.
  return iso === undefined ? undefined : `${iso.slice(0, -1)}${s.below}`;
}

/** ISO-8601 of a time in ms (years past 9999 as `+010000-…`), or undefined beyond the ±10^8 days a Date holds. */
function isoOf(ms: number): string | undefined {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function timeOfDay(v: unknown, precision: number): string | undefined {
  const s = split(v, precision);
  if (!s || s.ms < 0 || s.ms > DAY_MS) return undefined;
  // 24:00:00 (PostgreSQL allows it) has no ISO Date form.
  if (s.ms === DAY_MS) return `24:00:00.000${s.below}`;
  return `${new Date(s.ms).toISOString().slice(11, 23)}${s.below}`;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

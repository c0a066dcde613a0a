import { getUnsafeNumberReason, parse, stringify } from 'lossless-json';

/**
 * What JSON input syncline carries exactly, and what it refuses with a reason instead of losing it or crashing:
 * numbers a double cannot hold (JSON.parse would round 12345678901234567890, turn 1e309 into Infinity and then
 * null), numbers outside DynamoDB's range (it stores 38 digits between 1e-130 and 1e126), empty field names
 * (DynamoDB refuses them; its marshaller mangles `__proto__`) and nesting deeper than DynamoDB's 32 levels leave room for.
 */

/** Deepest nesting a request body may have; deeper is a 400 (parsers and serializers recurse). */
export const MAX_BODY_DEPTH = 64;
/** Deepest nesting of a record (the record itself is level 1): state wraps a record in up to 8 more levels. */
export const MAX_RECORD_DEPTH = 24;

/** A number whose text a double cannot hold exactly; kept as its source text until a record's fate is decided. */
export class InexactNumber {
  constructor(
    readonly text: string,
    readonly why: string,
  ) {}
}

/** A JSON object as parsed: not null, an array, or a number read exactly (an InexactNumber is an object too). */
export const isJsonObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof InexactNumber);

/** Nesting depth of JSON text (objects and arrays), counted without parsing, so any depth is safe to measure. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

const WHY: Record<string, string> = {
  overflow: 'is too large for a JSON number (it would become Infinity)',
  underflow: 'is too small for a JSON number (it would become 0)',
  truncate_integer: 'is an integer beyond 2^53 that a JSON number would round',
  truncate_float: 'has more significant digits than a JSON number keeps',
};

/**
 * Parses JSON like JSON.parse (the last of duplicate keys wins, `__proto__` is an ordinary key), except that a
 * number that would lose digits is an InexactNumber. Call only on text whose depth is at most MAX_BODY_DEPTH.
 */
/** A run of 16 digits (and dots): a number there may hold more than a double keeps (or it is inside a string). */
const MAYBE_INEXACT = /\d[\d.]{15}/;

/**
 * A pulled page or line: exactly (numbers a double cannot hold stay their digits) where a number may need it and the
 * text is shallow enough for the exact parser, which is recursive and ten times slower; else JSON.parse, which keeps
 * every number a double holds and refuses nothing deeper.
 */
export function parseJsonPulled(text: string): unknown {
  return MAYBE_INEXACT.test(text) && jsonDepth(text) <= MAX_BODY_DEPTH ? parseJsonExact(text) : JSON.parse(text);
}

export function parseJsonExact(text: string): unknown {
  // A leading byte order mark (some .NET senders write one) is not part of the JSON text (RFC 8259, section 8.1).
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return parse(json, null, { parseNumber: exactNumber, onDuplicateKey: ({ newValue }) => newValue });
}

/** JSON text like JSON.stringify's, with each InexactNumber written as the digits it was read from. */
export function stringifyExact(value: unknown): string {
  return stringify(value, null, undefined, [{ test: (v) => v instanceof InexactNumber, stringify: (v) => (v as InexactNumber).text }]) ?? 'null';
}

const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Digits of a number's text from its first non-zero one to its last non-zero one. */
function significantDigits(text: string): number {
  return text.replace(/^[-+]/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
}

/** A number's text as a number, or as an InexactNumber when a double would not hold it exactly; throws on text that is no number. */
export function exactNumber(text: string): number | InexactNumber {
  if (!NUMBER_TEXT.test(text)) throw new TypeError('number text that is not a number');
  const reason = getUnsafeNumberReason(text);
  // 17 significant digits name one double (what printf's %.17g writes, as Jansson or PostgreSQL's extra_float_digits
  // do): that double is the value meant, and JSON.parse reads it exactly.
  if (reason === 'truncate_float' && significantDigits(text) <= 17) return Number(text);
  return reason ? new InexactNumber(text, WHY[reason] ?? 'cannot be carried exactly') : Number(text);
}

/**
 * Why a record cannot be carried, one reason per problem (field paths, never values), or an empty list.
 * The record may hold InexactNumbers (from parseJsonExact) or plain values (from any other source).
 */
export function carryProblems(record: unknown, limit = 5): string[] {
  const problems: string[] = [];
  // Keys from the record down to the value at hand; its path text is built only for a problem.
  const trail: (string | number)[] = [];
  const here = (): string => {
    let path = '$';
    for (const k of trail) path += typeof k === 'number' ? `[${k}]` : IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
    return path;
  };
  const walk = (v: unknown, depth: number): void => {
    if (problems.length >= limit) return;
    switch (typeof v) {
      case 'number': {
        const why = numberProblem(v);
        if (why) problems.push(`number at ${here()} ${why}`);
        return;
      }
      case 'bigint':
        problems.push(`number at ${here()} is an integer beyond 2^53 that a JSON number would round; send it as a string`);
        return;
      case 'object':
        break;
      default:
        return;
    }
    if (v === null) return;
    if (v instanceof InexactNumber) {
      problems.push(`number at ${here()} ${v.why}; send it as a string`);
      return;
    }
    if (depth > MAX_RECORD_DEPTH) {
      problems.push(`${here()} nests deeper than ${MAX_RECORD_DEPTH} levels, the deepest record syncline stores`);
      return;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        trail.push(i);
        walk(v[i], depth + 1);
        trail.pop();
      }
      return;
    }
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const x = (v as Record<string, unknown>)[k];
      if (k === '' || k === '__proto__') {
        problems.push(k === '' ? `${here()} has a field with an empty name, which DynamoDB cannot store` : `${here()} has a field named __proto__, which the DynamoDB marshaller cannot store`);
        continue;
      }
      if (nameTooLong(k)) {
        problems.push(`${here()} has a field whose name is over ${MAX_FIELD_NAME_BYTES / 1024} KB, longer than DynamoDB stores`);
        continue;
      }
      if (k === 'constructor' && x !== null && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string') {
        problems.push(`${here()}.constructor is an object with a name, which the DynamoDB marshaller mistakes for a type`);
        continue;
      }
      trail.push(k);
      walk(x, depth + 1);
      trail.pop();
    }
  };
  walk(record, 1);
  return problems;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Longest field name carried: DynamoDB refuses attribute names of 64 KB and more (Naming rules,
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html), and
 * DynamoDB Local fails on names from about 50 KB.
 */
const MAX_FIELD_NAME_BYTES = 32 * 1024;

/** A field name longer than DynamoDB stores (UTF-8 takes at most 3 bytes a UTF-16 unit: only a long name needs counting). */
const nameTooLong = (k: string): boolean => k.length * 3 > MAX_FIELD_NAME_BYTES && Buffer.byteLength(k, 'utf8') > MAX_FIELD_NAME_BYTES;

/** What a quarantine copy names a field whose name is too long to store: its size and the start of it. */
const longName = (k: string): string => `(name of ${Buffer.byteLength(k, 'utf8')} bytes: ${Array.from(k.slice(0, 64)).slice(0, 32).join('')}...)`;

/** Why DynamoDB (and JSON) cannot carry a parsed number, if they cannot. */
function numberProblem(n: number): string | undefined {
  if (!Number.isFinite(n)) return 'is not finite';
  if (Number.isInteger(n) && !Number.isSafeInteger(n) && Math.abs(n) < 1e126) {
    return 'is beyond 2^53, where JSON numbers lose digits; send it as a string';
  }
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-130 || abs >= 1e126)) return 'is outside the range DynamoDB stores (1e-130 to 1e126)';
  return undefined;
}

/**
 * The value with every InexactNumber turned into a plain value: `asText` keeps its exact source text as a string
 * (for a quarantined copy that must be storable), otherwise the nearest double (for metadata such as Debezium's
 * `source.ts_ns`, where a rounded nanosecond does not matter).
 */
export function settleNumbers(value: unknown, asText = false): unknown {
  if (value instanceof InexactNumber) {
    if (asText) return value.text;
    const n = Number(value.text);
    return Number.isFinite(n) ? n : value.text;
  }
  if (Array.isArray(value)) return value.map((v) => settleNumbers(v, asText));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: settleNumbers(v, asText), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/**
 * A copy of a refused record that DynamoDB can store, for quarantine: exact number texts as strings, empty field
 * names as `(empty)`, `__proto__` as `(__proto__)`, a name too long to store as `(name of <n> bytes: <its start>...)`,
 * and anything deeper than MAX_RECORD_DEPTH as the string `(nested too deep)`.
 */
export function storableCopy(record: Record<string, unknown>): Record<string, unknown> {
  const copy = (v: unknown, depth: number): unknown => {
    if (v instanceof InexactNumber) return v.text;
    if (typeof v === 'number') return numberProblem(v) ? String(v) : v;
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    if (depth > MAX_RECORD_DEPTH) return '(nested too deep)';
    if (Array.isArray(v)) return v.map((x) => copy(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const named = k === 'constructor' && x !== null && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string';
      const name = k === '' ? '(empty)' : k === '__proto__' ? '(__proto__)' : named ? '(constructor)' : nameTooLong(k) ? longName(k) : k;
      Object.defineProperty(out, name, { value: copy(x, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return copy(record, 1) as Record<string, unknown>;
}

/**
 * The record of a delete, which nothing stores: its numbers settled to the nearest double (settleNumbers), so filters
 * and computes still read a number, except at `keyPaths`, which keep the digits as text so the key stays exact.
 */
export function settleDeleteNumbers(record: Record<string, unknown>, keyPaths: readonly string[]): Record<string, unknown> {
  const out = settleNumbers(record) as Record<string, unknown>;
  const child = (v: unknown, k: string) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined);
  for (const path of keyPaths) {
    const parts = path.split('.');
    const last = parts.pop()!;
    const from = parts.reduce(child, record as unknown);
    const to = parts.reduce(child, out as unknown);
    const value = child(from, last);
    if (value instanceof InexactNumber && to !== undefined) (to as Record<string, unknown>)[last] = value.text;
  }
  return out;
}

/**
 * JSON text with every character outside printable ASCII written as a `\u` escape: the same JSON value, in a form
 * every SQS implementation takes (SQS refuses U+FFFE and U+FFFF, and some local servers characters above U+FFFF).
 */
export function toAsciiJson(json: string): string {
  // Outside strings, valid JSON text holds only ASCII, so escaping every such character keeps the value.
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

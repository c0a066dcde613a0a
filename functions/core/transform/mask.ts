import { createHmac } from 'node:crypto';
import type { MaskKind } from '../../config/schema';
import { canonicalJson } from '../envelope';

export const REDACTED = '[REDACTED]';
const HASHED = /^hmac:[0-9a-f]{64}$/;

/**
 * Masks one value. null and undefined stay as they are.
 * - `redact`: "[REDACTED]"
 * - `hash`: "hmac:" + hex HMAC-SHA256 keyed per deployment, so masked values can still be joined on
 * - `last4`: all but the last 4 characters replaced by `*` (4 or fewer: all masked)
 * - `email`: local part masked, domain kept; a non-email is redacted
 */
export function maskValue(kind: MaskKind, value: unknown, hashKey: string): unknown {
  if (value === null || value === undefined) return value;
  // A value masked already (a replayed quarantine copy) stays as it is: masking it again would change it.
  if (kind !== 'redact' && (value === REDACTED || (typeof value === 'string' && HASHED.test(value)))) return value;
  switch (kind) {
    case 'redact':
      return REDACTED;
    case 'hash': {
      const text = typeof value === 'object' ? canonicalJson(value) : String(value);
      return `hmac:${createHmac('sha256', hashKey).update(text).digest('hex')}`;
    }
    case 'last4': {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') return REDACTED;
      const text = String(value);
      // Characters, not UTF-16 units; without surrogates they are the same.
      if (!/[\uD800-\uDFFF]/.test(text)) return text.length <= 4 ? '*'.repeat(text.length) : '*'.repeat(text.length - 4) + text.slice(-4);
      const chars = Array.from(text);
      if (chars.length <= 4) return '*'.repeat(chars.length);
      return '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
    }
    case 'email': {
      if (typeof value !== 'string') return REDACTED;
      const m = /^[^\s@]+@([^\s@]+\.[^\s@]+)$/.exec(value.trim());
      // Fixed-width mask so the local part's length does not leak either.
      return m ? `****@${m[1]}` : REDACTED;
    }
    default:
      return REDACTED;
  }
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const SSN = /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/;
const CARD_CANDIDATE = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;
const IBAN_CANDIDATE = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
// Whole-value phone formats; bare digit runs are left alone since they are usually ids.
const PHONE_INTL = /^\+[1-9][\d\s().-]{6,20}$/;
const PHONE_NANP = /^(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}$/;

const CARD_ANY = new RegExp(CARD_CANDIDATE.source);
const IBAN_ANY = new RegExp(IBAN_CANDIDATE.source);
// An IBAN's start in ASCII text of any case (non-ASCII letters can upper-case to ASCII ones, so they skip this test).
const IBAN_START = /[A-Za-z]{2}\d{2}/;

/** True when a string value looks like an email, phone, payment card, US SSN or IBAN. */
export function looksLikePii(value: string): boolean {
  if (value.length < 7 || value.length > 10_000) return false;
  // Each pattern needs some ASCII digits (or an `@`), so most values are ruled out without running one.
  let digits = 0;
  let at = false;
  let dash = false;
  let ascii = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 64) at = true;
    else if (c === 45) dash = true;
    else if (c >= 128) ascii = false;
  }
  if (at && EMAIL.test(value)) return true;
  if (digits < 2) return false;
  if (digits >= 9 && dash && SSN.test(value)) return true;
  if (digits >= 7 && isPhone(value.trim())) return true;
  if (digits >= 13 && CARD_ANY.test(value)) for (const m of value.matchAll(CARD_CANDIDATE)) if (isCardNumber(m[0].replace(/[ -]/g, ''))) return true;
  if (ascii && !IBAN_START.test(value)) return false;
  const upper = value.toUpperCase();
  if (IBAN_ANY.test(upper)) for (const m of upper.matchAll(IBAN_CANDIDATE)) if (ibanChecksumOk(m[0].replace(/ /g, ''))) return true;
  return false;
}

/**
 * Paths (dotted, array elements by index: `contacts.0.email`) of string values that look like PII, and of numbers
 * that look like card numbers.
 * `skip` holds paths already masked on purpose, so their masked forms are not reported again.
 */
export function detectPii(record: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): string[] {
  return findPii(record, skip).map((f) => f.path);
}

/** A value that looks like PII: its dotted path, and the keys that lead to it (a field name may hold a dot). */
export interface PiiFinding {
  readonly path: string;
  readonly trail: readonly string[];
}

/** As {@link detectPii}, with the keys to each value: masking by the dotted path would miss a field named `a.b`. */
export function findPii(record: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): PiiFinding[] {
  const found: PiiFinding[] = [];
  if (!skip.has('')) new PiiWalk(skip, found).walk(record, true);
  return found;
}

/** The skipped paths and the paths they lie in (`a.b.c` lies in `a` and `a.b`): below any other path nothing is skipped. */
function skipPrefixes(skip: ReadonlySet<string>): ReadonlySet<string> {
  let out: Set<string> | undefined;
  for (const s of skip) {
    for (let i = s.indexOf('.'); i >= 0; i = s.indexOf('.', i + 1)) (out ??= new Set(skip)).add(s.slice(0, i));
  }
  return out ?? skip;
}

/** Walks a record keeping the keys that lead to the value at hand; a path's text is built only where it is needed. */
class PiiWalk {
  private readonly trail: (string | number)[] = [];
  private readonly prefixes: ReadonlySet<string>;

  constructor(
    private readonly skip: ReadonlySet<string>,
    private readonly found: PiiFinding[],
  ) {
    this.prefixes = skipPrefixes(skip);
  }

  /** `live`: the value's path may be, or lead to, a skipped path. */
  walk(value: unknown, live: boolean): void {
    if (typeof value === 'string' || typeof value === 'number') {
      if (this.trail.length === 0 || !(typeof value === 'string' ? looksLikePii(value) : looksLikeCardNumber(value))) return;
      const path = this.path();
      if (path) this.found.push({ path, trail: this.trail.map(String) });
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (i in value) this.child(value[i], i, live);
    } else if (value && typeof value === 'object') {
      for (const k of Object.keys(value)) this.child((value as Record<string, unknown>)[k], k, live);
    }
  }

  /** Dotted path of the value at hand; below an empty path a key starts afresh, as it always has. */
  private path(): string {
    let path = '';
    for (const k of this.trail) path = path ? `${path}.${k}` : String(k);
    return path;
  }

  private child(value: unknown, key: string | number, live: boolean): void {
    this.trail.push(key);
    let childLive = false;
    if (live) {
      const path = this.path();
      // Skipped paths are among the prefixes, so most fields take one lookup.
      if (this.prefixes.has(path)) {
        if (this.skip.has(path)) {
          this.trail.pop();
          return;
        }
        childLive = true;
      }
      // Below an empty path, paths restart, so any of them may be skipped.
      if (path === '') childLive = true;
    }
    this.walk(value, childLive);
    this.trail.pop();
  }
}

function isPhone(v: string): boolean {
  if (!PHONE_INTL.test(v) && !PHONE_NANP.test(v)) return false;
  const digits = v.replace(/\D/g, '').length;
  return digits >= 7 && digits <= 15;
}

/** A number a JSON record holds as a card number (up to 16 digits; longer ones pass 2^53 and arrive as strings). */
export function looksLikeCardNumber(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1e12 && isCardNumber(String(value));
}

/** Card number prefixes and lengths of the payment networks (ISO/IEC 7812 IINs as the networks publish them). */
const CARD_RANGES: readonly { readonly from: number; readonly to: number; readonly digits: number; readonly lengths: readonly number[] }[] = [
  { from: 4, to: 4, digits: 1, lengths: [13, 16, 19] }, // Visa
  { from: 51, to: 55, digits: 2, lengths: [16] }, // Mastercard
  { from: 2221, to: 2720, digits: 4, lengths: [16] }, // Mastercard 2-series
  { from: 34, to: 34, digits: 2, lengths: [15] }, // American Express
  { from: 37, to: 37, digits: 2, lengths: [15] },
  { from: 300, to: 305, digits: 3, lengths: [14, 16, 17, 18, 19] }, // Diners Club
  { from: 36, to: 36, digits: 2, lengths: [14, 16, 17, 18, 19] },
  { from: 38, to: 39, digits: 2, lengths: [16, 17, 18, 19] },
  { from: 3528, to: 3589, digits: 4, lengths: [16, 17, 18, 19] }, // JCB
  { from: 6011, to: 6011, digits: 4, lengths: [16, 17, 18, 19] }, // Discover
  { from: 644, to: 649, digits: 3, lengths: [16, 17, 18, 19] },
  { from: 65, to: 65, digits: 2, lengths: [16, 17, 18, 19] },
  { from: 62, to: 62, digits: 2, lengths: [16, 17, 18, 19] }, // UnionPay
  { from: 50, to: 50, digits: 2, lengths: [12, 13, 14, 15, 16, 17, 18, 19] }, // Maestro
  { from: 56, to: 58, digits: 2, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
  { from: 67, to: 67, digits: 2, lengths: [12, 13, 14, 15, 16, 17, 18, 19] },
];

/**
 * Digits of a payment card: a payment network's prefix and length, and Luhn. Epoch-ms times (13 digits from 1) and
 * other ids outside the networks' ranges would otherwise pass Luhn one time in ten.
 */
function isCardNumber(digits: string): boolean {
  const ranged = CARD_RANGES.some((r) => r.lengths.includes(digits.length) && inRange(Number(digits.slice(0, r.digits)), r.from, r.to));
  return ranged && luhn(digits);
}

const inRange = (n: number, from: number, to: number): boolean => n >= from && n <= to;

function luhn(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || /^(\d)\1+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function ibanChecksumOk(iban: string): boolean {
  if (iban.length < 15 || iban.length > 34) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const part = code >= 65 ? String(code - 55) : ch;
    for (const d of part) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

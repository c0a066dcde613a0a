import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { looksLikePii, maskValue } from '../../../../functions/core/transform/mask';

// The patterns, each tried on every value: what ruling values out by their digits first must not change.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const SSN = /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/;
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
const PHONE_INTL = /^\+[1-9][\d\s().-]{6,20}$/;
const PHONE_NANP = /^(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}$/;

function luhn(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19 || /^(\d)\1+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

function ibanOk(iban: string): boolean {
  if (iban.length < 15 || iban.length > 34) return false;
  let rem = 0;
  for (const ch of iban.slice(4) + iban.slice(0, 4)) for (const d of ch.charCodeAt(0) >= 65 ? String(ch.charCodeAt(0) - 55) : ch) rem = (rem * 10 + Number(d)) % 97;
  return rem === 1;
}

function reference(value: string): boolean {
  if (value.length < 7 || value.length > 10_000) return false;
  if (EMAIL.test(value) || SSN.test(value)) return true;
  const v = value.trim();
  if ((PHONE_INTL.test(v) || PHONE_NANP.test(v)) && v.replace(/\D/g, '').length >= 7 && v.replace(/\D/g, '').length <= 15) return true;
  for (const m of value.matchAll(CARD)) if (luhn(m[0].replace(/[ -]/g, ''))) return true;
  for (const m of value.toUpperCase().matchAll(IBAN)) if (ibanOk(m[0].replace(/ /g, ''))) return true;
  return false;
}

describe('looksLikePii', () => {
  it('tells what trying every pattern on every value tells', () => {
    const char = fc.constantFrom(...'0123456789 -+().@abcXYZßſıGBDE\tüé_%'.split(''));
    const value = fc.oneof(
      fc.string({ unit: char, minLength: 5, maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.constantFrom('ada@example.com', '123-45-6789', '+1 555 123 4567', '4111 1111 1111 1111', 'GB82 WEST 1234 5698 7654 32', 'de89370400440532013000', '(555) 123-4567'),
    );
    fc.assert(
      fc.property(value, (v) => {
        expect(looksLikePii(v)).toBe(reference(v));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('maskValue last4', () => {
  it('counts characters, so a surrogate pair is never cut in half', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '7', 'é', '😀', '𝄞'), maxLength: 12 }), (text) => {
        const chars = Array.from(text);
        const expected = chars.length <= 4 ? '*'.repeat(chars.length) : '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
        expect(maskValue('last4', text, 'key')).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

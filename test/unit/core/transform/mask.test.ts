import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { detectPii, looksLikePii, maskValue } from '../../../../functions/core/transform/mask';

const KEY = 'deployment-key-1';

describe('maskValue', () => {
  it('redact replaces any value with [REDACTED]', () => {
    // Prepare
    const values = ['alice@example.com', 42, { nested: true }];

    // Act
    const masked = values.map((v) => maskValue('redact', v, KEY));

    // Assess
    expect(masked).toEqual(['[REDACTED]', '[REDACTED]', '[REDACTED]']);
  });

  it('hash is a keyed HMAC: stable for one deployment key, different for another, never the value', () => {
    // Prepare
    const value = 'alice@example.com';

    // Act
    const first = maskValue('hash', value, KEY);
    const again = maskValue('hash', value, KEY);
    const otherKey = maskValue('hash', value, 'another-key');

    // Assess
    expect(first).toBe(`hmac:${createHmac('sha256', KEY).update(value).digest('hex')}`);
    expect(again).toBe(first);
    expect(otherKey).not.toBe(first);
    expect(String(first)).not.toContain('alice');
  });

  it('hash of a number equals the hash of its string form, so ids join across systems', () => {
    // Prepare
    const asNumber = 12345;

    // Act
    const a = maskValue('hash', asNumber, KEY);
    const b = maskValue('hash', '12345', KEY);

    // Assess
    expect(a).toBe(b);
  });

  it('last4 keeps the last four characters of strings and numbers', () => {
    // Prepare
    const card = '4111111111111111';

    // Act
    const masked = [maskValue('last4', card, KEY), maskValue('last4', 123456789, KEY), maskValue('last4', '1234', KEY), maskValue('last4', 'ab', KEY)];

    // Assess
    expect(masked).toEqual(['************1111', '*****6789', '****', '**']);
  });

  it('email keeps the domain and hides the local part; a non-email is redacted', () => {
    // Prepare
    const values = ['alice.smith@example.com', 'not an email'];

    // Act
    const masked = values.map((v) => maskValue('email', v, KEY));

    // Assess
    expect(masked).toEqual(['****@example.com', '[REDACTED]']);
  });

  it('leaves null and undefined as they are for every kind', () => {
    // Prepare
    const kinds = ['redact', 'hash', 'last4', 'email'] as const;

    // Act
    const masked = kinds.flatMap((k) => [maskValue(k, null, KEY), maskValue(k, undefined, KEY)]);

    // Assess
    expect(masked).toEqual([null, undefined, null, undefined, null, undefined, null, undefined]);
  });

  it('gives a masked value back unchanged, for every kind (a replayed quarantine copy is masked already)', () => {
    // Prepare
    const kinds = ['redact', 'hash', 'last4', 'email'] as const;
    const hashed = maskValue('hash', 'ada@example.com', KEY) as string;

    // Act
    const again = kinds.flatMap((k) => [maskValue(k, '[REDACTED]', KEY), maskValue(k, hashed, KEY)]);

    // Assess: last4 of "[REDACTED]" was "******TED]", and a hash of a hash no longer joins; redact always redacts.
    expect(again).toEqual(kinds.flatMap((k) => ['[REDACTED]', k === 'redact' ? '[REDACTED]' : hashed]));
    expect(maskValue('last4', maskValue('last4', '+44 20 7946 0018', KEY), KEY)).toBe('************0018');
  });
});

describe('detectPii', () => {
  it('finds emails, phones, Luhn-valid cards, SSNs and IBANs, including nested and in arrays', () => {
    // Prepare
    const record = {
      id: 'c-1',
      contact: { email: 'bob@example.org', phone: '+44 20 7946 0958' },
      usPhone: '(415) 555-0100',
      card: '4111 1111 1111 1111',
      ssn: '123-45-6789',
      iban: 'GB82 WEST 1234 5698 7654 32',
      notes: ['call me', 'mail me at carol@example.net please'],
    };

    // Act
    const found = detectPii(record);

    // Assess
    expect(found.sort()).toEqual(['card', 'contact.email', 'contact.phone', 'iban', 'notes.1', 'ssn', 'usPhone']);
  });

  it('leaves ordinary values alone: ids, dates, amounts, numbers failing Luhn, bad IBAN checksums', () => {
    // Prepare
    const record = {
      id: '12345678',
      orderNo: '4111111111111112',
      createdAt: '2024-01-15T10:00:00Z',
      day: '2024-01-15',
      amount: '1234.56',
      name: 'Alice Smith',
      iban: 'GB00 WEST 1234 5698 7654 32',
      version: '1.2.3-rc.4',
    };

    // Act
    const found = detectPii(record);

    // Assess
    expect(found).toEqual([]);
  });

  it('finds card numbers a record holds as JSON numbers, and Amex and 13-digit Visa numbers as text', () => {
    // Prepare: test numbers of the networks' documentation.
    const record = { id: 'c-1', card: 4111111111111111, mc: 5555555555554444, amex: '3782 822463 10005', visa13: '4222222222222', qty: 3, price: 19.99 };

    // Act / Assess
    expect(detectPii(record).sort()).toEqual(['amex', 'card', 'mc', 'visa13']);
  });

  it('does not take epoch-millisecond times or other ids outside the payment networks for cards, though they pass Luhn', () => {
    // Prepare: each passes Luhn; epoch ms start with 1, no card network issues numbers from 7, and Mastercard's (53) have 16 digits.
    const record = { id: 'c-1', updatedAt: 1733580000003, updatedAtText: '1733580000003', account: 7000000000000005, ref: '5300000000009' };

    // Act / Assess
    expect(detectPii(record)).toEqual([]);
  });

  it('skips paths that were masked on purpose', () => {
    // Prepare
    const record = { email: 'dave@example.com', backup: 'erin@example.com' };

    // Act
    const found = detectPii(record, new Set(['email']));

    // Assess
    expect(found).toEqual(['backup']);
  });

  it('does not flag masked outputs as PII again', () => {
    // Prepare
    const masked = [maskValue('email', 'frank@example.com', KEY), maskValue('last4', '4111111111111111', KEY), maskValue('hash', '123-45-6789', KEY)];

    // Act
    const flagged = masked.map((m) => looksLikePii(String(m)));

    // Assess
    expect(flagged).toEqual([false, false, false]);
  });
});

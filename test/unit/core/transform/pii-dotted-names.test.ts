import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../../functions/config/schema';
import { maskValue } from '../../../../functions/core/transform/mask';
import { compileTransform } from '../../../../functions/core/transform/pipeline';
import { maskForQuarantine } from '../../../../functions/core/transform/raw-record';

const flow = (detectPii: 'mask' | 'flag') =>
  flowSchema.parse({ id: 'contacts', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], transform: { detectPii }, targets: [{ id: 'out', type: 'dynamodb' }] });

describe('PII in fields whose names hold a dot', () => {
  it('is masked where it is (detectPii "mask"), not written to a nested path beside the raw value', async () => {
    // Act
    const result = await compileTransform(flow('mask'), { hashKey: 'k' }).apply({ id: 'c-1', 'contact.email': 'ada@example.com', nested: { 'x.y': 'bob@example.com' } }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed', record: { id: 'c-1', 'contact.email': '[REDACTED]', nested: { 'x.y': '[REDACTED]' } } });
    expect(JSON.stringify(result)).not.toContain('@example.com');
    expect((result as { record: Record<string, unknown> }).record).not.toHaveProperty('contact');
  });

  it('is redacted in a quarantined copy too', () => {
    const masked = maskForQuarantine(flow('flag'), { id: 'c-1', 'contact.email': 'ada@example.com' });
    expect(masked).toEqual({ id: 'c-1', 'contact.email': '[REDACTED]' });
  });
});

describe('a configured mask or exclude reaches the value wherever its path may name it', () => {
  const masked = (transform: Record<string, unknown>) =>
    flowSchema.parse({ id: 'contacts', key: ['id'], pii: ['contacts.email'], sources: [{ id: 'crm', type: 'webhook' }], transform, targets: [{ id: 'out', type: 'dynamodb' }] });

  it('masks the field in each element of an array on the path', async () => {
    // Act
    const result = await compileTransform(masked({ mask: { 'contacts.email': 'redact' } }), { hashKey: 'k' }).apply({ id: 'c-1', contacts: [{ email: 'ada@corp.io', role: 'cto' }, { email: 'bob@corp.io' }, 'not-an-object'] }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed', record: { contacts: [{ email: '[REDACTED]', role: 'cto' }, { email: '[REDACTED]' }, 'not-an-object'] } });
    expect(JSON.stringify(result)).not.toContain('@corp.io');
  });

  it('masks a field whose own name is the dotted path', async () => {
    // Act
    const result = await compileTransform(masked({ mask: { 'contacts.email': 'hash' } }), { hashKey: 'k' }).apply({ id: 'c-1', 'contacts.email': 'ada@corp.io' }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed' });
    expect(JSON.stringify(result)).not.toContain('ada@corp.io');
    expect((result as { record: Record<string, unknown> }).record).not.toHaveProperty('contacts');
  });

  it('excludes the field from each array element and under its dotted name', async () => {
    // Act
    const result = await compileTransform(masked({ exclude: ['contacts.email'] }), { hashKey: 'k' }).apply({ id: 'c-1', contacts: [{ email: 'ada@corp.io', role: 'cto' }], 'contacts.email': 'bob@corp.io' }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed', record: { id: 'c-1', contacts: [{ role: 'cto' }] } });
    expect(JSON.stringify(result)).not.toContain('@corp.io');
  });

  it('leaves the input as it was (the mask copies the containers it changes)', async () => {
    // Prepare
    const input = { id: 'c-1', contacts: [{ email: 'ada@corp.io' }] };

    // Act
    await compileTransform(masked({ mask: { 'contacts.email': 'redact' } }), { hashKey: 'k' }).apply(input, 'upsert');

    // Assess
    expect(input).toEqual({ id: 'c-1', contacts: [{ email: 'ada@corp.io' }] });
  });

  it('redacts declared PII inside arrays in a quarantined copy', async () => {
    // Prepare: the schema refuses the record, so its input is kept in quarantine
    const flow = masked({ mask: { 'contacts.email': 'redact' }, schema: { type: 'object', required: ['name'] } });

    // Act
    const result = await compileTransform(flow, { hashKey: 'k' }).apply({ id: 'c-1', contacts: [{ email: 'ada@corp.io' }] }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'quarantined', original: { contacts: [{ email: '[REDACTED]' }] } });
    expect(JSON.stringify(result)).not.toContain('ada@corp.io');
  });

  it('masks and excludes by an index path as well (`phones.0.number`)', async () => {
    // Prepare
    const flow = flowSchema.parse({ id: 'contacts', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], transform: { mask: { 'phones.0.number': 'redact' }, exclude: ['phones.1.number'] }, targets: [{ id: 'out', type: 'dynamodb' }] });

    // Act
    const result = await compileTransform(flow, { hashKey: 'k' }).apply({ id: 'c-1', phones: [{ number: '+1 555 0100' }, { number: '+1 555 0199', kind: 'work' }] }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed', record: { phones: [{ number: '[REDACTED]' }, { kind: 'work' }] } });
    expect(JSON.stringify(result)).not.toContain('0199');
  });

  it('leaves null in place of an array element that exclude or rename takes by index, so later indexes name the same elements', async () => {
    // Prepare: the mask of index 1 must still mean the second element after index 0 is excluded; the schema allows null.
    const flow = flowSchema.parse({
      id: 'contacts',
      key: ['id'],
      sources: [{ id: 'crm', type: 'webhook' }],
      transform: { exclude: ['ssns.0'], rename: { 'phones.0': 'primaryPhone' }, mask: { 'ssns.1': 'redact' }, schema: { type: 'object', properties: { ssns: { type: 'array', items: { type: ['string', 'null'] } } } } },
      targets: [{ id: 'out', type: 'dynamodb' }],
    });

    // Act
    const result = await compileTransform(flow, { hashKey: 'k' }).apply({ id: 'c-1', ssns: ['public-0', 'SECRET-1', 'public-2'], phones: ['+1 555 0100', '+1 555 0199'] }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed', record: { ssns: [null, '[REDACTED]', 'public-2'], phones: [null, '+1 555 0199'], primaryPhone: '+1 555 0100' } });
    expect(JSON.stringify(result)).not.toContain('SECRET-1');
  });

  it('fills with null, not holes, the elements before one that rename or set writes past the end; takes no element for another name on an array', async () => {
    // Prepare
    const flow = flowSchema.parse({
      id: 'contacts',
      key: ['id'],
      sources: [{ id: 'crm', type: 'webhook' }],
      transform: { rename: { 'tags.0': 'tags.3', 'tags.length': 'count' }, set: { 'labels.2': 'z' }, schema: { type: 'object', properties: { tags: { type: 'array', items: { type: ['string', 'null'] } } } } },
      targets: [{ id: 'out', type: 'dynamodb' }],
    });

    // Act
    const result = await compileTransform(flow, { hashKey: 'k' }).apply({ id: 'c-1', tags: ['x', 'y'], labels: [] }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'passed', record: { tags: [null, 'y', null, 'x'], labels: [null, null, 'z'], count: 2 } });
  });

  it('redacts a masked path through arrays and under its dotted name in a copy quarantined at capture', () => {
    // Prepare
    const flow = flowSchema.parse({ id: 'contacts', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], transform: { mask: { 'contacts.name': 'redact' } }, targets: [{ id: 'out', type: 'dynamodb' }] });

    // Act
    const masked = maskForQuarantine(flow, { id: '1', contacts: [{ name: 'Ada Lovelace' }], 'contacts.name': 'Grace Hopper', payload: { after: { contacts: [{ name: 'Alan Turing' }] } } });

    // Assess
    expect(JSON.stringify(masked)).not.toMatch(/Lovelace|Hopper|Turing/);
  });

  it('masks a field a rename could not move (through an array, or named with the dots) under its old name', async () => {
    // Prepare: the taint check takes both renames as moving the address to the masked name
    const flow = flowSchema.parse({
      id: 'contacts', key: ['id'], pii: ['contacts.email', 'contact.email'], sources: [{ id: 'crm', type: 'webhook' }],
      transform: { rename: { 'contacts.email': 'contacts.mail', 'contact.email': 'email' }, mask: { 'contacts.mail': 'redact', email: 'redact' } },
      targets: [{ id: 'out', type: 'dynamodb' }],
    });

    // Act
    const result = await compileTransform(flow, { hashKey: 'k' }).apply({ id: 'c-1', contacts: [{ email: 'ada@corp.io' }], 'contact.email': 'bob@corp.io' }, 'upsert');

    // Assess
    expect(result.status).toBe('passed');
    expect(JSON.stringify(result)).not.toContain('@corp.io');
  });

  it('reaches each element of nested arrays once, however deep, so a record cannot make the search explode', async () => {
    // Prepare: 60 levels of arrays under `a`, and an index path
    let deep: unknown = 'x';
    for (let i = 0; i < 60; i++) deep = [deep];
    const flow = flowSchema.parse({ id: 'contacts', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], transform: { mask: { 'a.0.0.0.0.0': 'hash' } }, targets: [{ id: 'out', type: 'dynamodb' }] });

    // Act
    const result = await compileTransform(flow, { hashKey: 'k' }).apply({ id: 'c-1', a: deep }, 'upsert');

    // Assess: that one element masked, once (a hash of a hash would differ)
    const at = (v: unknown, n: number): unknown => (n === 0 ? v : at((v as unknown[])[0], n - 1));
    expect(at((result as unknown as { record: { a: unknown } }).record.a, 5)).toBe(maskValue('hash', at(deep, 5), 'k'));
  });
});


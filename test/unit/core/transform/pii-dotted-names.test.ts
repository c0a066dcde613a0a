import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../../functions/config/schema';
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

import { describe, expect, it, vi } from 'vitest';
import { flowSchema, type FlowConfig } from '../../../../functions/config/schema';
import { captureProblem, quarantineOf } from '../../../../functions/core/capture/capture-outcome';
import { MAX_RECORD_BYTES } from '../../../../functions/core/record-limits';
import { contactsFlow } from '../../../fixtures/flows';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
/** The transform renames the key into place, so the capture cannot read the key, only audit it through the rename. */
const renamedFlow: FlowConfig = flowSchema.parse({
  id: 'renamed',
  key: ['id'],
  sources: [{ id: 'crm', type: 'webhook' }],
  transform: { rename: { contactId: 'id' } },
  conflict: { strategy: 'lww' },
  targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
});
const huge = { id: 'a', notes: 'x'.repeat(MAX_RECORD_BYTES) };

describe('captureProblem', () => {
  it('answers the first problem found, in order: the earlier one, carry problems, a missing key, then size', () => {
    // Prepare
    const all = { first: 'ts is not a time', unstorable: ['$.n is 2^60'], key: '', sized: huge, op: 'upsert' } as const;

    // Act
    const reasons = [
      captureProblem(contactsFlow, all),
      captureProblem(contactsFlow, { ...all, first: undefined }),
      captureProblem(contactsFlow, { ...all, first: undefined, unstorable: [] }),
      captureProblem(contactsFlow, { ...all, first: undefined, unstorable: [], key: 'a' }),
    ];

    // Assess
    expect(reasons).toEqual(['ts is not a time', 'record cannot be carried exactly: $.n is 2^60', 'missing key field(s) id', expect.stringMatching(/^record is larger than/)]);
  });

  it('refuses a missing key only when given a key and the capture reads the key', () => {
    // Prepare
    const check = { unstorable: [], sized: { name: 'Ann' }, op: 'upsert' } as const;

    // Act
    const noKeyAsked = captureProblem(contactsFlow, check);
    const keyMadeByTransform = captureProblem(renamedFlow, { ...check, key: '' });

    // Assess
    expect(noKeyAsked).toBeUndefined();
    expect(keyMadeByTransform).toBeUndefined();
  });

  it('names what was measured in the size reason, and measures it only when the other checks pass', () => {
    // Prepare
    const toJSON = vi.fn(() => huge);

    // Act
    const earlier = captureProblem(contactsFlow, { unstorable: ['$.n'], sized: { toJSON }, op: 'upsert' });
    const large = captureProblem(contactsFlow, { unstorable: [], sized: { toJSON }, op: 'delete', what: 'change event' });

    // Assess
    expect(earlier).toBe('record cannot be carried exactly: $.n');
    expect(large).toMatch(/^change event is larger than/);
    expect(toJSON).toHaveBeenCalledTimes(1);
  });
});

describe('quarantineOf', () => {
  it('builds the item and audit entry of a record refused at capture, masked, keyed by its raw key', () => {
    // Prepare
    const record = { id: 'c-1', email: 'ann@example.com' };

    // Act
    const { item, entry } = quarantineOf(contactsFlow, { id: 'e1', source: 'crm', at: NOW, reason: 'too large', record, seq: 'w#000', position: 'w#000' });

    // Assess
    expect(item).toEqual({
      flow: 'contacts',
      id: 'e1',
      source: 'crm',
      at: NOW,
      reason: 'too large',
      errors: ['too large'],
      record: { id: 'c-1', email: expect.not.stringContaining('ann@') },
      envelope: { v: 1, id: 'e1', flow: 'contacts', source: 'crm', key: 'c-1', op: 'upsert', ts: NOW, seq: 'w#000', lineage: [{ step: 'capture', at: NOW, outcome: 'quarantined' }] },
      position: 'w#000',
    });
    expect(entry).toEqual({ flow: 'contacts', key: 'c-1', step: 'capture', at: NOW, source: 'crm', eventId: 'e1', outcome: 'quarantined', reason: 'too large' });
    expect(record.email).toBe('ann@example.com');
  });

  it('reads the audit key through the transform\'s renames, and keeps what a path gives in place of each default', () => {
    // Prepare
    const mask = vi.fn((r: Record<string, unknown>) => ({ ...r, masked: true }));
    const given = { op: 'delete', errors: ['p: bad'], key: '', auditKey: 'k', auditReason: 'bad (p)', mask } as const;

    // Act
    const renamed = quarantineOf(renamedFlow, { id: 'e2', source: 'crm', at: NOW, reason: 'bad', record: { contactId: 'c-2' }, seq: 's', position: 'p' });
    const explicit = quarantineOf(contactsFlow, { id: 'e3', source: 'crm', at: NOW, reason: 'bad', record: { id: 'c-3' }, seq: 's', position: 'p', ...given });

    // Assess
    expect(renamed.item.envelope.key).toBe('c-2');
    expect(renamed.entry.key).toBe('c-2');
    expect(explicit.item).toMatchObject({ errors: ['p: bad'], record: { id: 'c-3', masked: true }, envelope: { key: '', op: 'delete' } });
    expect(explicit.entry).toMatchObject({ key: 'k', reason: 'bad (p)' });
  });

  it('keeps an empty record, unmasked, when none could be read', () => {
    // Prepare
    const mask = vi.fn((r: Record<string, unknown>) => r);

    // Act
    const { item, entry } = quarantineOf(contactsFlow, { id: 'e4', source: 'crm', at: NOW, reason: 'not JSON', seq: 'm', position: 'm', mask });

    // Assess
    expect(item.record).toEqual({});
    expect(item.envelope.key).toBe('');
    expect(entry.key).toBe('');
    expect(mask).not.toHaveBeenCalled();
  });
});

import { describe, expect, it } from 'vitest';
import { auditable } from '../../../functions/handlers/audit-policy';
import type { AuditEntry } from '../../../functions/ports';
import { contactsFlow } from '../../fixtures/flows';

const entry = (key: string, step: AuditEntry['step'], outcome: AuditEntry['outcome']): AuditEntry => ({ flow: 'contacts', key, step, at: 1, source: 'crm', eventId: `e-${key}-${outcome}`, outcome });

describe("audit keys that syncline's own entries use", () => {
  it("moves a record's entries under ~pull/ or ~window# keys to no key, whatever the outcome, and keeps a pull's own entries", () => {
    // Act
    const out = auditable(contactsFlow, [
      entry('~pull/nightly', 'transform', 'filtered'),
      entry('~pull/nightly', 'transform', 'quarantined'),
      entry('~window#2026-12-07T23', 'transform', 'filtered'),
      entry('~pull/nightly', 'capture', 'skipped'),
      entry('c-1', 'transform', 'filtered'),
    ]);

    // Assess
    expect(out.map((e) => [e.key, e.outcome])).toEqual([
      ['', 'filtered'],
      ['', 'quarantined'],
      ['', 'filtered'],
      ['~pull/nightly', 'skipped'],
      ['c-1', 'filtered'],
    ]);
  });
});

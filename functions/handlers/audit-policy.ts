import type { FlowConfig } from '../config/schema';
import { keyProblem } from '../core/envelope';
import type { AuditEntry, AuditOutcome } from '../ports';

const ERROR_OUTCOMES: ReadonlySet<AuditOutcome> = new Set(['quarantined', 'failed', 'conflict']);

/** Whether the flow's audit level keeps an entry: `all` keeps everything, `decisions` all but captures, `errors` only failures. */
export function keepsAudit(flow: FlowConfig, outcome: AuditOutcome): boolean {
  switch (flow.audit.level) {
    case 'all':
      return true;
    case 'decisions':
      return outcome !== 'captured' && outcome !== 'duplicate';
    case 'errors':
      return ERROR_OUTCOMES.has(outcome);
  }
}

export function auditable(flow: FlowConfig, entries: readonly AuditEntry[]): AuditEntry[] {
  return auditableOwned(flow, entries.map((entry) => ({ entry, owner: '' }))).map((e) => e.entry);
}

/**
 * `auditable` for entries paired with the message that owns each. A key too long to store (quarantined for it by
 * the transform) is audited under the empty key rather than refused by the audit table.
 */
export function auditableOwned<O>(flow: FlowConfig, entries: readonly { entry: AuditEntry; owner: O }[]): { entry: AuditEntry; owner: O }[] {
  return entries
    .map((e) => (keyProblem(e.entry.key) ? { ...e, entry: { ...e.entry, key: '' } } : e))
    // A capture whose key only the transform can derive is audited by the transform step, under that key.
    .filter((e) => keepsAudit(flow, e.entry.outcome) && !(e.entry.outcome === 'captured' && e.entry.key === ''));
}

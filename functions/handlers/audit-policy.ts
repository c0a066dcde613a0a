import type { FlowConfig } from '../config/schema';
import { AUDIT_WINDOW_KEY_PREFIX, keyProblem, PULL_AUDIT_KEY_PREFIX, type ChangeEnvelope } from '../core/envelope';
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
    // So is a record's key that would land in the partition of the flow's status windows, or among a pull's own
    // entries (`~pull/<source>`, outcome skipped); a record with such a key is quarantined.
    .map((e) => (keyProblem(e.entry.key, flow.id) || reservedForRecord(e.entry) ? { ...e, entry: { ...e.entry, key: '' } } : e))
    // A plain capture is shown in lineage from the entry of the step that decides its record (`detail.captured`);
    // one that says more (a review's resolution, a backfill) keeps an item of its own.
    .map((e) => (isPlainCapture(e.entry) ? { ...e, entry: { ...e.entry, heldBy: 'decision' as const } } : e))
    // A capture whose key only the transform can derive is audited by the transform step, under that key.
    .filter((e) => keepsAudit(flow, e.entry.outcome) && !(e.entry.outcome === 'captured' && e.entry.key === ''));
}

/**
 * A decision entry that also tells when and how its change was captured (`detail.captured`), at audit level `all`:
 * lineage shows the capture from it, so a capture costs no audit item of its own.
 */
export function withCapture(flow: FlowConfig, entry: AuditEntry, env: ChangeEnvelope): AuditEntry {
  const capture = env.lineage.find((l) => l.step === 'capture' && l.outcome === 'captured');
  if (!capture || !keepsAudit(flow, 'captured')) return entry;
  const captured = { at: capture.at, op: env.op, ...(env.pos !== undefined ? { position: env.pos } : {}) };
  return { ...entry, detail: { ...entry.detail, captured } };
}

function isPlainCapture(e: AuditEntry): boolean {
  return e.outcome === 'captured' && e.reason === undefined && Object.keys(e.detail ?? {}).every((k) => k === 'op' || k === 'position');
}

/** A record's entry under a key that syncline's own entries use (a pull's own are its capture's skipped deletes). */
function reservedForRecord(entry: AuditEntry): boolean {
  if (entry.key.startsWith(AUDIT_WINDOW_KEY_PREFIX)) return true;
  return entry.key.startsWith(PULL_AUDIT_KEY_PREFIX) && !(entry.step === 'capture' && entry.outcome === 'skipped');
}

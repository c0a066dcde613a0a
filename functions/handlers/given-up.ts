import type { FlowConfig } from '../config/schema';
import type { ChangeEnvelope } from '../core/envelope';
import { safeErrorText } from '../core/error-text';
import type { AuditEntry, AuditLog, LogPort } from '../ports';
import { auditableOwned, withCapture } from './audit-policy';
import { type SqsBatch } from './sqs-batch';

/** A change whose message a step failed: the message, and what its audit entry names. */
export interface FailedChange {
  readonly messageId: string;
  readonly key: string;
  readonly source: string;
  readonly eventId: string;
  /** The envelope, when the step read one: its capture goes into the entry (`detail.captured`) at level `all`. */
  readonly env?: ChangeEnvelope;
}

/**
 * Audits `failed` ("gave up after 5 attempts ...") each change whose message fails on its last receive, since SQS
 * moves it to the DLQ next: lineage then tells why the change went no further. Best effort: the messages fail either
 * way, so nothing here throws.
 */
export async function auditGivenUp(
  deps: { readonly flow: FlowConfig; readonly audit: AuditLog; readonly logger: LogPort },
  step: AuditEntry['step'],
  batch: SqsBatch,
  changes: Iterable<FailedChange>,
  at: number,
): Promise<void> {
  const { flow } = deps;
  try {
    const entries: AuditEntry[] = [];
    for (const c of changes) {
      const last = batch.lastTry([c.messageId]);
      if (!last) continue;
      const entry: AuditEntry = { flow: flow.id, key: c.key, step, at, source: c.source, eventId: c.eventId, outcome: 'failed', reason: last.reason, detail: { attempts: last.attempts, parked: 'dlq' } };
      entries.push(c.env ? withCapture(flow, entry, c.env) : entry);
    }
    const kept = auditableOwned(flow, entries.map((entry) => ({ entry, owner: entry.key })));
    if (kept.length > 0) await deps.audit.write(kept.map((e) => e.entry));
  } catch (err) {
    deps.logger.warn(`audit of changes given up at ${step} failed`, { flow: flow.id, error: safeErrorText(err) });
  }
}

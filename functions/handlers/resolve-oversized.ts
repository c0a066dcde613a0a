import type { FlowConfig } from '../config/schema';
import { transformFingerprint } from '../core/transform/fingerprint';
import type { AuditEntry, AuditLog, QuarantineItem, QuarantineSink, StoredState } from '../ports';
import { auditableOwned, withCapture } from './audit-policy';
import type { ChangeGroup } from './change-group';
import type { SqsBatch } from './sqs-batch';

/** A key's changes whose merged record would not fit its state item, and that state as stored (not merged into). */
export type Oversized = ChangeGroup & { readonly reason: string; readonly state: StoredState | undefined };

/** Reason of a change quarantined by resolve; `quarantine replay` sends such a change back to resolve. */
export const STATE_TOO_LARGE = 'the merged record would not fit its state item';

/** Whether a quarantined change was set aside by resolve (so its record is already transformed). */
export function quarantinedByResolve(item: Pick<QuarantineItem, 'envelope'>): boolean {
  return item.envelope.lineage.some((l) => l.step === 'resolve' && l.outcome === 'quarantined');
}

/**
 * Quarantines the changes of keys whose state would pass what a DynamoDB item holds, with the sizes, and audits
 * them: a retry would be refused the same way, so they are settled here rather than retried into the DLQ. The
 * record keeps its state as it was; the change comes back with `syncline quarantine replay` once the record is
 * smaller (another source's large field gone), while the flow's transform is still the one that made it.
 */
export async function quarantineOversized(
  deps: { readonly flow: FlowConfig; readonly quarantine: QuarantineSink; readonly audit: AuditLog },
  batch: SqsBatch,
  oversized: readonly Oversized[],
  now: number,
): Promise<number> {
  const { flow } = deps;
  const owned = oversized.flatMap((o) => o.envelopes.map((env, i) => ({ env, key: o.key, reason: o.reason, owner: o.messageIds[i]! })));
  if (owned.length === 0) return 0;
  const transform = transformFingerprint(flow);
  const items = owned.map(({ env, reason }): QuarantineItem => {
    const { data, before: _before, ...envelope } = env;
    return {
      flow: flow.id,
      id: env.id,
      source: env.source,
      at: now,
      reason: STATE_TOO_LARGE,
      errors: [reason],
      record: data ?? {},
      envelope: { ...envelope, lineage: [...env.lineage, { step: 'resolve', at: now, outcome: 'quarantined' }] },
      transform,
    };
  });
  await batch.attemptItems(owned.map((o) => o.owner), 'quarantine write failed', () => deps.quarantine.put(items));
  const entries = auditableOwned(
    flow,
    owned
      .filter((o) => !batch.isFailed(o.owner))
      .map(({ env, key, reason, owner }) => ({
        entry: withCapture(flow, { flow: flow.id, key, step: 'resolve', at: now, source: env.source, eventId: env.id, outcome: 'quarantined', reason: `${STATE_TOO_LARGE}: ${reason}` } satisfies AuditEntry, env),
        owner,
      })),
  );
  if (entries.length > 0) await batch.attemptItems(entries.map((e) => e.owner), 'audit write failed', () => deps.audit.write(entries.map((e) => e.entry)));
  return owned.filter((o) => !batch.isFailed(o.owner)).length;
}

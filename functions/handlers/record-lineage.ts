import type { AuditEntry, StoredState } from '../ports';

const STEP_ORDER = ['capture', 'transform', 'resolve', 'deliver'];

/** The source whose change made `version` of a key: that of its latest resolve decision kept, or '' when none is. */
export function sourceOfVersion(entries: readonly AuditEntry[], version: number | undefined): string {
  let found: AuditEntry | undefined;
  for (const e of entries) if (e.step === 'resolve' && e.version === version && e.source !== '' && (!found || e.at >= found.at)) found = e;
  return found?.source ?? '';
}

/**
 * A record's lineage, oldest first: its audit entry items, the recent decisions its state item keeps and the latest
 * delivery its targets' markers record, with each capture shown as an entry of its own from the `detail.captured`
 * of the entry that decided the record. Earlier deliveries are in the audit time windows and the decision log.
 */
export function recordLineage(items: readonly AuditEntry[], state: StoredState | undefined): AuditEntry[] {
  const seen = new Map<string, AuditEntry>();
  const add = (e: AuditEntry) => {
    const id = `${e.at}|${e.eventId}|${e.step}|${e.outcome}|${e.target ?? ''}`;
    if (!seen.has(id)) seen.set(id, e);
  };
  const decided = [...items, ...(state?.recent ?? [])];
  // Capture entries of an earlier release stand for their change's capture; an echo's (`echoOf`, an item of its own
  // under the id of the change it relays) does not.
  const capturedIds = new Set(decided.filter((e) => e.outcome === 'captured' && (e.detail as { echoOf?: unknown } | undefined)?.echoOf === undefined).map((e) => e.eventId));
  for (const e of decided) {
    const { captured, ...detail } = (e.detail ?? {}) as { captured?: { at: number; op: string; position?: string } };
    const { heldBy: _, ...entry } = e;
    add(Object.keys(detail).length > 0 ? { ...entry, detail } : (({ detail: __, ...rest }) => rest)(entry));
    // One capture entry per capture time (add drops repeats): an echo comes back under the id of the change it
    // relays, and its capture is one of its own, after the original's.
    if (captured && !capturedIds.has(e.eventId)) {
      add({
        flow: e.flow,
        key: e.key,
        step: 'capture',
        at: captured.at,
        source: e.source,
        eventId: e.eventId,
        outcome: 'captured',
        detail: { op: captured.op, ...(captured.position !== undefined ? { position: captured.position } : {}) },
      });
    }
  }
  // The latest delivery to each target, from its marker (deliveries before markers said when were entry items).
  for (const [target, d] of Object.entries(state?.delivered ?? {})) {
    if (d.at === undefined || items.some((e) => e.outcome === 'delivered' && e.target === target && e.version === d.version)) continue;
    add({
      flow: state!.flow,
      key: state!.key,
      step: 'deliver',
      at: d.at,
      source: sourceOfVersion(decided, d.version),
      eventId: d.eventIds?.[0] ?? '',
      outcome: 'delivered',
      version: d.version,
      target,
      detail: { eventIds: [...(d.eventIds ?? [])], hash: d.hash, ...(d.replayedBy !== undefined ? { replayedBy: d.replayedBy } : {}) },
    });
  }
  return [...seen.values()].sort((a, b) => a.at - b.at || STEP_ORDER.indexOf(a.step) - STEP_ORDER.indexOf(b.step));
}

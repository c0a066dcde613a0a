import type { FlowConfig } from '../config/schema';
import type { ChangeEnvelope } from '../core/envelope';
import { changeTimeOf, type MergeResult, type RecordView } from '../core/merge';
import { RECENT_DECISIONS, type AuditEntry, type StoredState } from '../ports';
import { keepsAudit, withCapture } from './audit-policy';

/** The resolve entry of each change of a key, in input order. */
export function decisionEntries(flow: FlowConfig, key: string, envelopes: readonly ChangeEnvelope[], result: MergeResult, version: number | undefined, at: number): AuditEntry[] {
  const byId = new Map(envelopes.map((e) => [e.id, e]));
  return result.decisions.map((d) => {
    const env = byId.get(d.id);
    const entry: AuditEntry = {
      flow: flow.id,
      key,
      step: 'resolve',
      at,
      source: env?.source ?? '',
      eventId: d.id,
      outcome: d.outcome,
      reason: d.reason,
      version,
      // Names of fields that looked like PII (detectPii "flag"), for `syncline status`: no extra write.
      ...(env?.piiFlagged?.length ? { detail: { piiFlagged: env.piiFlagged } } : {}),
    };
    return env ? withCapture(flow, entry, env) : entry;
  });
}

/**
 * What a state write keeps of the key's decisions: the latest RECENT_DECISIONS of the earlier ones and this write's
 * kept ones. `entries` are this write's entries, those in `recent` marked as held by the state item (the others are
 * written as entry items as usual); `archived` are earlier ones that leave the state item, to be written as entry
 * items before it is.
 */
export function keepRecent(
  flow: FlowConfig,
  current: StoredState | undefined,
  entries: readonly AuditEntry[],
): { recent: AuditEntry[]; entries: AuditEntry[]; archived: AuditEntry[] } {
  const earlier = current?.recent ?? [];
  const fresh = entries.map((e) => ({ e, kept: keepsAudit(flow, e.outcome) }));
  const all = [...earlier.map((e) => ({ e, kept: true, old: true })), ...fresh.filter((f) => f.kept).map((f) => ({ ...f, old: false }))];
  const held = new Set(all.slice(Math.max(0, all.length - RECENT_DECISIONS)).map((x) => x.e));
  return {
    recent: all.filter((x) => held.has(x.e)).map((x) => x.e),
    entries: fresh.map(({ e }) => (held.has(e) ? { ...e, heldBy: 'state' as const } : e)),
    archived: all.filter((x) => x.old && !held.has(x.e)).map((x) => x.e),
  };
}

/** The view's time (its newest clock, or its delete's); for a view with neither, the newest change of the batch. */
export function changeTs(view: RecordView, envelopes: readonly ChangeEnvelope[], fallback: number): number {
  const ts = changeTimeOf(view);
  if (ts > 0) return ts;
  return envelopes.length > 0 ? Math.max(...envelopes.map((e) => e.ts)) : fallback;
}

/** Whether the group holds a change that made the state's current version (always, for a state without its decisions). */
export function madeCurrent(state: StoredState, group: { readonly envelopes: readonly ChangeEnvelope[] }): boolean {
  if (!state.recent) return true;
  const ids = new Set(group.envelopes.map((e) => e.id));
  return state.recent.some((d) => d.version === state.version && ids.has(d.eventId));
}

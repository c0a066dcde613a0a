import { eventId, ENVELOPE_VERSION, truncateScope, type ChangeEnvelope } from '../core/envelope';
import { clockOf, compareClock } from '../core/merge';
import type { FlowConfig } from '../config/schema';
import type { StoredState, TruncateMark, TruncateScopeIndex } from '../ports';
import { addChange, type ChangeGroup } from './change-group';

/**
 * A truncate's delete of one key: the truncate's clock and position, so a change made after the truncate still
 * wins; its id from the truncate and the key, so the expansion's delete and a late change's merge as one.
 */
export function truncateDelete(flowId: string, mark: TruncateMark, key: string, at: number): ChangeEnvelope {
  return {
    v: ENVELOPE_VERSION,
    id: eventId(mark.id, key),
    flow: flowId,
    source: mark.source,
    key,
    op: 'delete',
    ts: mark.ts,
    seq: mark.seq,
    ...(mark.pos !== undefined ? { pos: mark.pos } : {}),
    lineage: [
      { step: 'capture', at: mark.at, outcome: 'truncated' },
      { step: 'resolve', at, outcome: 'truncate-delete' },
    ],
  };
}

/** The changes of a batch from a table some source deletes on truncate (`tbl` set), with their messages. */
export function scopedChanges(groups: ReadonlyMap<string, ChangeGroup>): { readonly env: ChangeEnvelope; readonly messageId: string }[] {
  return [...groups.values()].flatMap((g) => g.envelopes.flatMap((env, i) => (env.tbl !== undefined ? [{ env, messageId: g.messageIds[i]! }] : [])));
}

/**
 * A change of a truncated table from before its truncate that reaches resolve after the truncate was expanded (it
 * was still on its way, so the index did not list its key yet) gets the truncate's delete beside it, carried by its
 * message: the key ends deleted, as it would have had the change come first. Not when the key is listed under
 * another table by a change later than this one: in log order the truncate would not have deleted it either.
 * Answers how many deletes were added.
 */
export async function addLateTruncateDeletes(
  flow: FlowConfig,
  index: TruncateScopeIndex,
  groups: Map<string, ChangeGroup>,
  scoped: readonly { readonly env: ChangeEnvelope; readonly messageId: string }[],
  stored: ReadonlyMap<string, StoredState>,
  at: number,
): Promise<number> {
  if (scoped.length === 0) return 0;
  const scopeOf = (e: ChangeEnvelope) => truncateScope(flow.id, e.source, e.tbl!);
  const marks = await index.truncateMarks(flow.id, [...new Set(scoped.map(({ env }) => scopeOf(env)))]);
  let added = 0;
  for (const { env, messageId } of scoped) {
    const scope = scopeOf(env);
    const mark = marks.get(scope);
    if (!mark) continue;
    const state = stored.get(env.key);
    // Listed under another table by a later change (stored, or in this batch): in log order the truncate found it
    // there, and left it.
    const since = state && !state.view.deleted && state.truncateScope !== undefined && state.truncateScope !== scope ? state.truncateScopeClock : undefined;
    if (since !== undefined && compareClock(since, clockOf(env), []) > 0) continue;
    const group = groups.get(env.key)!;
    if (group.envelopes.some((e) => e.tbl !== undefined && scopeOf(e) !== scope && compareClock(clockOf(e), clockOf(env), []) > 0)) continue;
    const del = truncateDelete(flow.id, mark, env.key, at);
    // The truncate wins over the change only when it comes later in the source's log (or, without one, later in time).
    if (compareClock(clockOf(del), clockOf(env), []) <= 0) continue;
    if (group.envelopes.some((e) => e.id === del.id)) continue;
    addChange(groups, del, messageId);
    added++;
  }
  return added;
}

import { chunk } from '../chunk';
import { ENVELOPE_VERSION, eventId, PULL_AUDIT_KEY_PREFIX, type ChangeEnvelope } from '../envelope';
import type { PullRunState, SeenList } from '../../ports';
import type { PullContext, PullDeps } from './pull-types';
import type { ScheduleSource } from './records';

/** The audit key of source-level decisions (delete inference refused). */
export const pullAuditKey = (source: string): string => `${PULL_AUDIT_KEY_PREFIX}${source}`;

/** The skip reason of a source whose delete detection is off; its complete runs still become the known set. */
export const DELETES_DISABLED = 'delete detection is disabled';

/** Why a source's pulls never infer deletes (incremental mode, or delete detection off); undefined when they may. */
export function deletesOffReason(source: ScheduleSource): string | undefined {
  if (source.mode === 'incremental') return 'incremental mode does not infer deletes';
  if (source.deletes?.enabled === false) return DELETES_DISABLED;
  return undefined;
}

/** What delete inference needs of the running pull. */
export type DeleteInference = Pick<PullContext, 'deps' | 'send' | 'auditKeyOf' | 'keys'>;

/** Keys in the known set but not seen by this complete run become deletes, unless they exceed maxDeleteRatio. */
export async function inferDeletes(ctx: DeleteInference, run: PullRunState, acceptDeletes: boolean): Promise<{ deleted: number; refused?: number }> {
  const { deps, send, auditKeyOf, keys } = ctx;
  const { flow, source, state, clock, logger, metrics } = deps;
  if (run.known.length === 0) return { deleted: 0 };
  const seen = new Set<string>();
  for await (const chunk of state.readSeen(flow.id, source.id, { runId: run.runId, chunks: run.seenChunks })) for (const k of chunk) seen.add(k);
  const known = new Set<string>();
  const absent: string[] = [];
  // Ids of another form (a sealed state's raw ones, left by an earlier release): not compared, and their items go.
  const foreign = new Set<string>();
  for (const list of run.known) {
    for await (const chunk of state.readSeen(flow.id, source.id, list)) {
      for (const k of chunk) {
        if (known.has(k)) continue;
        if (!keys.ownsId(k)) {
          foreign.add(k);
          continue;
        }
        known.add(k);
        if (!seen.has(k)) absent.push(k);
      }
    }
  }
  seen.clear();
  if (foreign.size > 0) await state.deleteKeys(flow.id, source.id, [...foreign]);
  if (absent.length === 0) return { deleted: 0 };
  const ratio = absent.length / known.size;
  const maxRatio = source.deletes?.maxDeleteRatio ?? 0.2;
  const at = clock.now();
  if (ratio > maxRatio && !acceptDeletes) {
    const reason = `delete inference refused: ${absent.length} of ${known.size} known keys (${(ratio * 100).toFixed(1)}%) are absent, above maxDeleteRatio ${maxRatio}`;
    metrics.count('DeleteInferenceRefused', 1);
    logger.warn(reason, { flow: flow.id, source: source.id, runId: run.runId, absent: absent.length, known: known.size });
    await deps.audit.write([
      {
        flow: flow.id,
        key: pullAuditKey(source.id),
        step: 'capture',
        at,
        source: source.id,
        eventId: eventId(flow.id, source.id, 'delete-inference', run.runId),
        outcome: 'skipped',
        reason,
        detail: { absent: absent.length, known: known.size, maxDeleteRatio: maxRatio, runId: run.runId },
      },
    ]);
    return { deleted: 0, refused: absent.length };
  }
  known.clear();
  let deleted = 0;
  for (const part of chunk(absent, 100)) {
    const last = await state.getKeys(flow.id, source.id, part);
    const gone: string[] = [];
    const envelopes: ChangeEnvelope[] = [];
    const unreadable: string[] = [];
    for (const key of part) {
      const entry = last.get(key);
      const data = entry && keys.keyData(entry);
      if (entry && !data) unreadable.push(key);
      if (!entry || !data) continue;
      gone.push(key);
      envelopes.push(deleteEnvelope(deps, key, entry.hash, data, run, at));
    }
    if (unreadable.length > 0) await state.deleteKeys(flow.id, source.id, unreadable);
    await send(envelopes);
    await deps.audit.write(
      envelopes.map((e, j) => ({
        flow: flow.id,
        key: auditKeyOf(gone[j]!),
        step: 'capture' as const,
        at,
        source: source.id,
        eventId: e.id,
        outcome: 'captured' as const,
        reason: 'absent from a complete pull',
        detail: { op: 'delete' },
      })),
    );
    await state.deleteKeys(flow.id, source.id, gone);
    deleted += gone.length;
  }
  if (deleted) metrics.count('DeletesInferred', deleted);
  return { deleted };
}

/** `key` as the pull's state names it (an HMAC when sealed), so is `hash`: the id stays the same across runs. */
function deleteEnvelope({ flow, source }: PullDeps, key: string, hash: string, keyData: Record<string, unknown>, run: PullRunState, at: number): ChangeEnvelope {
  return {
    v: ENVELOPE_VERSION,
    id: eventId(flow.id, source.id, key, 'delete', hash),
    flow: flow.id,
    source: source.id,
    key: '',
    op: 'delete',
    // Only the key fields: the transform derives the key from them.
    data: keyData,
    ts: run.startedAt,
    seq: `delete#${run.runId}`,
    lineage: [{ step: 'capture', at, outcome: 'captured' }],
  };
}

/**
 * Drops key lists that leave the known set, and the per-key items of the keys no kept list names: such a key was
 * absent from the source when it left (deletes disabled, refused, or a run restarted), and its item would stay for
 * ever. A key seen again is sent again, once.
 */
export async function dropKnownLists({ flow, source, state }: PullDeps, dropped: readonly SeenList[], kept: readonly SeenList[]): Promise<void> {
  if (dropped.length === 0) return;
  const keep = new Set<string>();
  for (const list of kept) for await (const chunk of state.readSeen(flow.id, source.id, list)) for (const k of chunk) keep.add(k);
  for (const list of dropped) {
    for await (const chunk of state.readSeen(flow.id, source.id, list)) {
      const gone = chunk.filter((k) => !keep.has(k));
      if (gone.length > 0) await state.deleteKeys(flow.id, source.id, gone);
    }
    await state.dropSeen(flow.id, source.id, list);
  }
}

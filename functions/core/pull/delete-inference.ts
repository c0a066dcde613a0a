import { ENVELOPE_VERSION, eventId, type ChangeEnvelope } from '../envelope';
import type { PullRunState } from '../../ports';
import type { PullContext, PullDeps } from './pull-types';

/** The audit key of source-level decisions (delete inference refused). */
export const pullAuditKey = (source: string): string => `~pull/${source}`;

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
  for (const list of run.known) {
    for await (const chunk of state.readSeen(flow.id, source.id, list)) {
      for (const k of chunk) {
        if (known.has(k)) continue;
        known.add(k);
        if (!seen.has(k)) absent.push(k);
      }
    }
  }
  seen.clear();
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
  for (let i = 0; i < absent.length; i += 100) {
    const part = absent.slice(i, i + 100);
    const last = await state.getKeys(flow.id, source.id, part);
    const gone = part.filter((k) => last.has(k));
    const envelopes = gone.map((key) => deleteEnvelope(deps, key, last.get(key)!.hash, keys.keyData(last.get(key)!), run, at));
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

import type { PullRunState, SeenList } from '../../ports';
import { DELETES_DISABLED, deletesOffReason, dropKnownLists, inferDeletes } from './delete-inference';
import type { ReadOutcome } from './page-loop';
import type { DeleteOutcome, PullContext } from './pull-types';
import { lastRunSummary } from './pull-summary';
import { closeRun, withKnown } from './run-state';

/** Ends a run: infers deletes when it may, keeps the key lists of the known set, and saves the closed run. */
export async function finishRun(ctx: PullContext, read: ReadOutcome, acceptDeletes: boolean): Promise<{ run: PullRunState; deletes: DeleteOutcome }> {
  const { flow, source, state, clock, logger } = ctx.deps;
  const complete = read.partialReason === undefined;
  const partial = !complete || read.run.keylessQuarantined;
  const { deletes, known } = await settleKnownKeys(ctx, read.run, deleteSkipReason(ctx, read), partial, acceptDeletes);
  const last = lastRunSummary(read.run, clock.now(), complete, deletes, read.error);
  const run = closeRun(read.run, source, complete, known, last);
  await state.putRun(run);
  logger.info('pull finished', { flow: flow.id, source: source.id, ...last });
  return { run, deletes };
}

function deleteSkipReason({ deps }: PullContext, { run, partialReason }: ReadOutcome): string | undefined {
  const off = deletesOffReason(deps.source);
  if (off !== undefined) return off;
  if (partialReason !== undefined) return `partial pull: ${partialReason}`;
  if (run.keylessQuarantined) return 'partial pull: a record without a readable key was quarantined';
  return undefined;
}

/**
 * Full mode: a complete run infers deletes and becomes the known set, unless the ratio guard refused them; a partial
 * run's keys join the known set. Key lists that leave the set are dropped. Incremental mode keeps no key lists.
 */
async function settleKnownKeys(
  ctx: PullContext,
  run: PullRunState,
  skipped: string | undefined,
  partial: boolean,
  acceptDeletes: boolean,
): Promise<{ deletes: DeleteOutcome; known: readonly SeenList[] }> {
  const { flow, source, state } = ctx.deps;
  const current: SeenList = { runId: run.runId, chunks: run.seenChunks };
  if (source.mode !== 'full') {
    // Lists and key items of full-mode runs before a switch to incremental mode go too.
    await dropKnownLists(ctx.deps, [...run.known, current], []);
    return { deletes: { deletesInferred: 0, ...(skipped !== undefined ? { deletesSkipped: skipped } : {}) }, known: [] };
  }
  let deletes: DeleteOutcome;
  let known: readonly SeenList[];
  if (skipped === undefined) {
    const inferred = await inferDeletes(ctx, run, acceptDeletes);
    deletes = { deletesInferred: inferred.deleted, ...(inferred.refused !== undefined ? { deletesRefused: inferred.refused } : {}) };
    known = inferred.refused === undefined ? [current] : withKnown(run, current);
  } else {
    deletes = { deletesInferred: 0, deletesSkipped: skipped };
    // With deletes disabled, a complete run alone is the known set; a partial one did not see every key there is.
    known = skipped === DELETES_DISABLED && !partial ? [current] : withKnown(run, current);
  }
  const keep = new Set(known.map((k) => k.runId));
  const dropped = [...run.known, current].filter((list) => !keep.has(list.runId));
  // After deletes were inferred, the keys of the lists that go and not of this run's were deleted with their items.
  if (skipped === undefined && deletes.deletesRefused === undefined) for (const list of dropped) await state.dropSeen(flow.id, source.id, list);
  else await dropKnownLists(ctx.deps, dropped, known);
  return { deletes, known };
}

import type { PullRunState } from '../../ports';
import { rawKeyPaths } from '../transform/raw-record';
import { dropKnownLists } from './delete-inference';
import { auditKeyFn, transformQueueSender } from './emit-page';
import { finishRun } from './finish-run';
import { NO_COUNTS, readPages } from './page-loop';
import { pullKeys, settleKeyForm, type PullKeys } from './pull-keys';
import { busySummary, pullSummary } from './pull-summary';
import type { PullContext, PullDeps, PullRequest, PullSummary } from './pull-types';
import { pullKeyFields } from './records';
import { openRun } from './run-state';

export type { PullDeps, PullSummary } from './pull-types';

/** Runs (or continues) one pull of a `schedule` source. Infrastructure failures (state, queue) throw. */
export async function runPull(deps: PullDeps, request: PullRequest = {}): Promise<PullSummary> {
  const { flow, source, state, clock, logger } = deps;
  const now = clock.now();
  if (!(await state.acquireLease(flow.id, source.id, deps.owner, now + Math.max(deps.remainingMs(), 1000) + 30_000, now))) {
    logger.info('pull already running elsewhere', { flow: flow.id, source: source.id });
    return busySummary(deps);
  }
  try {
    const keys = await pullKeys(flow, source, deps.hashKey);
    const settled = await settleKeyForm(deps, keys, await state.getRun(flow.id, source.id));
    if (settled.unfinished) return pullSummary(deps, settled.run, { counts: NO_COUNTS, deletes: { deletesInferred: 0 }, complete: false, continued: true });
    const previous = settled.run;
    // A run begun in the other mode saw its keys otherwise (incremental pages record none): it starts over.
    const modeChanged = previous?.active === true && previous.mode !== undefined && previous.mode !== source.mode;
    if (modeChanged) logger.warn('pull mode changed during a run: the run starts over', { flow: flow.id, source: source.id, from: previous.mode, to: source.mode });
    const restart = request.restart === true || modeChanged;
    const run: PullRunState = { ...openRun(flow.id, source.id, previous, restart, now), keys: keys.form, mode: source.mode };
    if (previous?.active && restart) await dropKnownLists(deps, [{ runId: previous.runId, chunks: previous.seenChunks }], previous.known);
    const ctx = pullContext(deps, keys);
    const read = await readPages(ctx, run);
    if (!read.finished) return pullSummary(deps, read.run, { counts: read.counts, deletes: { deletesInferred: 0 }, complete: false, continued: true, error: read.error });
    const finished = await finishRun(ctx, read, request.acceptDeletes === true);
    return pullSummary(deps, finished.run, {
      counts: read.counts,
      deletes: finished.deletes,
      complete: read.partialReason === undefined,
      continued: false,
      error: read.error,
    });
  } finally {
    await state.releaseLease(flow.id, source.id, deps.owner).catch((err: unknown) => logger.warn('could not release pull lease', { error: String(err) }));
  }
}

function pullContext(deps: PullDeps, keys: PullKeys): PullContext {
  const keyFields = pullKeyFields(deps.flow, deps.source);
  // A sealed key names no record anyone can read (the flow masks it): audit under the key the transform derives.
  const auditKeyOf = keys.form === 'raw' ? auditKeyFn(deps.flow, keyFields) : () => '';
  // The pull's key fields are the flow key read through renames, so its raw key is the record's key when they match.
  const raw = rawKeyPaths(deps.flow);
  const rawKeyIsKey = raw !== undefined && raw.length === keyFields.length && raw.every((p, i) => p === keyFields[i]);
  return { deps, keyFields, keys, send: transformQueueSender(deps), auditKeyOf, rejectedKeyOf: rawKeyIsKey ? (key) => key : auditKeyOf };
}

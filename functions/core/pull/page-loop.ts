import { SynclineError } from '../errors';
import type { PulledPage, PullRunState } from '../../ports';
import { emitPage } from './emit-page';
import type { PageResult, PullContext, PullCounts } from './pull-types';
import { advanceRun } from './run-state';
import { RunStopError } from './run-stop';

const DEFAULT_MAX_PAGES = 10_000;
export const NO_COUNTS: PullCounts = { pages: 0, records: 0, changed: 0, quarantined: 0 };

/** How reading pages ended in this invocation. */
export interface ReadOutcome {
  /** The run as last checkpointed. */
  readonly run: PullRunState;
  /** What this invocation read and sent. */
  readonly counts: PullCounts;
  /** The run ends now; otherwise it continues in a next invocation. */
  readonly finished: boolean;
  /** Why a finished run is partial (stopped early, abandoned). */
  readonly partialReason?: string;
  /** The source's failure, when it failed. */
  readonly error?: string;
}

/**
 * Reads, emits and checkpoints pages from the run's continuation until the source ends, the run reaches
 * `maxPagesPerRun`, or too little of the invocation is left for another page. Source failures end the read;
 * our own failures (queue, state) throw: nothing after the last checkpoint was recorded, so a retry redoes it.
 */
export async function readPages(ctx: PullContext, start: PullRunState): Promise<ReadOutcome> {
  const { deps } = ctx;
  const { clock } = deps;
  const maxPages = deps.source.maxPagesPerRun ?? DEFAULT_MAX_PAGES;
  const reserveMs = deps.reserveMs ?? 60_000;
  let run = start;
  let counts = NO_COUNTS;
  let slowestPageMs = 0;
  const iterator = deps.reader.pages({ continuation: readableContinuation(ctx, run), since: run.since })[Symbol.asyncIterator]();
  try {
    let pageStarted = clock.now();
    for (;;) {
      const next = await nextPage(iterator);
      // The reader ran out: the run is complete even if the last page still carried a continuation.
      if (next.done) return { run, counts, finished: true };
      const page = next.value;
      const result = await emitPage(ctx, page.items, run);
      run = advanceRun(run, ctx.keys.hide(page.next), result);
      counts = addPage(counts, result);
      // Checkpoint only now: the page's envelopes are sent and its keys recorded.
      await deps.state.putRun(run);
      slowestPageMs = Math.max(slowestPageMs, clock.now() - pageStarted);
      pageStarted = clock.now();
      if (page.next === undefined) return { run, counts, finished: true };
      if (run.pages >= maxPages) {
        await iterator.return?.();
        return { run, counts, finished: true, partialReason: `stopped at maxPagesPerRun (${maxPages})` };
      }
      if (deps.remainingMs() < Math.max(reserveMs, 2 * slowestPageMs)) {
        await iterator.return?.();
        return { run, counts, finished: false };
      }
    }
  } catch (caught) {
    if (!(caught instanceof SourceError)) throw caught;
    await iterator.return?.().catch(() => undefined);
    return sourceFailed(ctx, run, counts, caught.cause);
  }
}

/** The run's continuation as the reader takes it; one that cannot be opened (damaged) restarts the run's reading. */
function readableContinuation({ deps, keys }: PullContext, run: PullRunState): string | undefined {
  try {
    return keys.show(run.continuation);
  } catch {
    deps.logger.warn('pull continuation cannot be read: the run reads its source from the start again', { flow: deps.flow.id, source: deps.source.id, runId: run.runId });
    return undefined;
  }
}

async function nextPage(iterator: AsyncIterator<PulledPage>): Promise<IteratorResult<PulledPage>> {
  try {
    return await iterator.next();
  } catch (err) {
    throw new SourceError(err);
  }
}

function addPage(counts: PullCounts, page: PageResult): PullCounts {
  return {
    pages: counts.pages + 1,
    records: counts.records + page.records,
    changed: counts.changed + page.changed,
    quarantined: counts.quarantined + page.quarantined,
  };
}

/** A failed source is retried from the checkpoint by the next invocations, up to `maxFailures` in a row. */
async function sourceFailed({ deps }: PullContext, run: PullRunState, counts: PullCounts, err: unknown): Promise<ReadOutcome> {
  const { flow, source } = deps;
  const error = err instanceof Error ? err.message : String(err);
  deps.metrics.count('PullFailed', 1);
  deps.logger.warn('pull failed', { flow: flow.id, source: source.id, runId: run.runId, page: run.pages + 1, error });
  const failed = { ...run, failures: run.failures + 1 };
  // Retrying a stopped run would loop the same way: it ends now as partial.
  if (err instanceof RunStopError) return { run: failed, counts, finished: true, partialReason: error, error };
  if (failed.failures >= (deps.maxFailures ?? 3)) {
    return { run: failed, counts, finished: true, partialReason: `abandoned after ${failed.failures} failed attempts: ${error}`, error };
  }
  await deps.state.putRun(failed);
  return { run: failed, counts, finished: false, error };
}

/** A failure of the source (fetch, read), as opposed to our own infrastructure. */
class SourceError extends SynclineError {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'SourceError';
  }
}

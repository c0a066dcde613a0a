import type { PullRunState } from '../../ports';
import type { DeleteOutcome, PullCounts, PullDeps, PullSummary } from './pull-types';

/** How one invocation ended. */
export interface InvocationEnd {
  readonly counts: PullCounts;
  readonly deletes: DeleteOutcome;
  readonly complete: boolean;
  readonly continued: boolean;
  readonly error?: string;
}

/** What a pull invocation reports; the run's totals are added when it spanned several invocations. */
export function pullSummary({ flow, source }: PullDeps, run: PullRunState | undefined, end: InvocationEnd): PullSummary {
  return {
    flow: flow.id,
    source: source.id,
    runId: run?.runId ?? '',
    ...end.counts,
    ...end.deletes,
    complete: end.complete,
    continued: end.continued,
    ...(end.error ? { error: end.error } : {}),
    ...(run && run.invocations > 1
      ? { run: { pages: run.pages, records: run.records, changed: run.changed, quarantined: run.quarantined, invocations: run.invocations } }
      : {}),
  };
}

/** The answer when another invocation holds the source's lease. */
export function busySummary(deps: PullDeps): PullSummary {
  const counts = { pages: 0, records: 0, changed: 0, quarantined: 0 };
  return { ...pullSummary(deps, undefined, { counts, deletes: { deletesInferred: 0 }, complete: false, continued: false }), busy: true };
}

/** A finished run as its state keeps it (`last`). */
export function lastRunSummary(run: PullRunState, finishedAt: number, complete: boolean, deletes: DeleteOutcome, error: string | undefined): Record<string, unknown> {
  return {
    runId: run.runId,
    startedAt: run.startedAt,
    finishedAt,
    complete,
    pages: run.pages,
    records: run.records,
    changed: run.changed,
    quarantined: run.quarantined,
    ...deletes,
    ...(error ? { error } : {}),
  };
}

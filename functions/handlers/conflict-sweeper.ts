import { autoResolveChoice, parseDurationMs } from '../core/merge';
import { telemetryOf, type AuditLog, type Clock, type ConflictStore, type LogPort, type MetricsPort, type Publisher } from '../ports';
import { settleConflict, type ReviewFlow } from './conflict-review-handler';

/** Who an automatic resolution is recorded as resolved by (audit, conflict item, lineage). */
export const AUTO_RESOLVE_BY = 'syncline:auto-resolve';

/** Settlements run at once; each is three small writes. */
const CONCURRENCY = 10;

export interface ConflictSweeperDeps extends ReviewFlow {
  readonly conflicts: ConflictStore;
  readonly publisher: Publisher;
  readonly audit?: AuditLog;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

/** What one sweep did. */
export interface SweepSummary {
  readonly flow: string;
  /** Open conflicts after the sweep: the `OpenConflicts` gauge. */
  readonly open: number;
  /** Settled by this sweep with the fallback strategy's choice. */
  readonly autoResolved: number;
  /** Old enough, but settled by someone else first (a reviewer, or an overlapping sweep): not an error. */
  readonly alreadyResolved: number;
  /** Old enough, but their resolution could not be queued: still open, tried again next sweep. */
  readonly failed: number;
  /** Old enough, but left for the next sweep because the invocation ran out of time. */
  readonly deferred: number;
}

export interface SweepOptions {
  /** Time left in this invocation (Lambda's `getRemainingTimeInMillis`); settling stops 10 s before the end. */
  readonly remainingMs?: () => number;
}

export type ConflictSweeper = (options?: SweepOptions) => Promise<SweepSummary>;

/** Time kept in reserve at the end of an invocation for the last settlements and the metrics flush. */
const RESERVE_MS = 10_000;

/**
 * One flow's conflict sweep (manual strategy), run on a schedule: each open conflict older than
 * `conflict.autoResolveAfter` is settled through the reviewer's path with the side `conflict.autoResolveWith` keeps,
 * by `syncline:auto-resolve`; then the open count is published as the `OpenConflicts` gauge (also without
 * `autoResolveAfter`). A conflict a reviewer settles meanwhile loses the conditional transition on one side only.
 * Throws after publishing the gauge when some resolution could not be queued, so the failure shows as an error.
 */
export function createConflictSweeper(deps: ConflictSweeperDeps): ConflictSweeper {
  const { clock, logger, metrics } = telemetryOf(deps);
  const { flow } = deps;
  const { autoResolveAfter, autoResolveWith } = flow.conflict;
  const limitMs = autoResolveAfter !== undefined ? parseDurationMs(autoResolveAfter) : undefined;

  return async (options = {}) => {
    const open = await deps.conflicts.list(flow.id, 'open');
    const now = clock.now();
    const due = limitMs !== undefined && autoResolveWith ? open.filter((c) => now - c.openedAt >= limitMs) : [];
    let autoResolved = 0;
    let alreadyResolved = 0;
    let failed = 0;
    let deferred = 0;
    for (let i = 0; i < due.length; i += CONCURRENCY) {
      if (options.remainingMs && options.remainingMs() < RESERVE_MS) {
        deferred = due.length - i;
        break;
      }
      const answers = await Promise.all(
        due.slice(i, i + CONCURRENCY).map((conflict) => {
          const choice = autoResolveChoice(flow, conflict, autoResolveWith!);
          const why = `open longer than autoResolveAfter "${autoResolveAfter}", settled by autoResolveWith "${autoResolveWith}"`;
          return settleConflict({ ...deps, clock, logger }, { target: deps, conflict, choice, by: AUTO_RESOLVE_BY, why }).catch((err: unknown) => {
            logger.error('auto-resolution failed', { flow: flow.id, conflict: conflict.id, error: (err as Error).message });
            return { status: 500, body: undefined };
          });
        }),
      );
      for (const a of answers) {
        if (a.status === 202) autoResolved++;
        // 409: a reviewer (or an overlapping sweep) settled it first; 404: it is gone. Either way it is not open.
        else if (a.status === 409 || a.status === 404) alreadyResolved++;
        else failed++;
      }
    }
    const summary: SweepSummary = { flow: flow.id, open: open.length - autoResolved - alreadyResolved, autoResolved, alreadyResolved, failed, deferred };
    metrics.gauge?.('OpenConflicts', summary.open);
    logger.info('conflict sweep done', { ...summary });
    if (failed > 0) throw new Error(`${failed} of ${due.length} auto-resolution(s) of flow "${flow.id}" could not be queued; they stay open for the next sweep`);
    return summary;
  };
}

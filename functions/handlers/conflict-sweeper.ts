import { randomInt } from 'node:crypto';
import { safeErrorText } from '../core/error-text';
import { autoResolveWinner, conflictsOf, parseDurationMs } from '../core/merge';
import {
  telemetryOf,
  type AuditLog,
  type Clock,
  type ConflictStore,
  type LogPort,
  type MetricsPort,
  type Publisher,
  type StateStore,
  type StoredConflict,
} from '../ports';
import { settleConflict, type ReviewAnswer, type ReviewFlow } from './conflict-review-handler';

/** Who an automatic resolution is recorded as resolved by (audit, conflict item, lineage). */
export const AUTO_RESOLVE_BY = 'syncline:auto-resolve';

/** Settlements run at once; each is three small writes. */
const CONCURRENCY = 10;

/** Time kept in reserve at the end of an invocation for the last settlements and the metrics flush. */
const RESERVE_MS = 10_000;

export interface ConflictSweeperDeps extends ReviewFlow {
  readonly conflicts: ConflictStore;
  /** Read to settle only conflicts the record still holds open, choosing among every side of their field. */
  readonly state: Pick<StateStore, 'getMany'>;
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
  /** Settled by someone else first (a reviewer, or an overlapping sweep): not an error. */
  readonly alreadyResolved: number;
  /** Closed as `superseded`: a newer edit replaced one of its sides, so the record no longer holds it. */
  readonly superseded: number;
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

/** One settlement: a field whose oldest conflict is due, settled through the conflict that holds the winner. */
interface Settlement {
  readonly conflict: StoredConflict;
  readonly choose: 'current' | 'incoming';
  /** The field's other open conflicts, superseded once the settlement is merged. */
  readonly siblings: number;
}

/** Keys of open conflicts a sweep reads to find the superseded ones, besides those due for settling. */
export const STALE_CHECK_KEYS = 100;

/** Up to `n` of `items`, chosen at random when there are more. */
function sample<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  const out = [...items];
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(out.length - i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.slice(0, n);
}

/**
 * One flow's conflict sweep (manual strategy), run on a schedule. A field with a conflict open longer than
 * `conflict.autoResolveAfter` is settled through the reviewer's path, by `syncline:auto-resolve`, with the value
 * that `conflict.autoResolveWith` keeps among every side the record holds open on that field (a resolution dominates
 * the whole field, so one settlement per field). Conflicts the record no longer holds (a newer edit replaced a side)
 * are closed as superseded at every sweep, with or without `autoResolveAfter`, never settled: settling them would
 * overwrite that newer edit. Then the open count is published as the `OpenConflicts` gauge. A reviewer settling a
 * conflict at the same time wins or loses the conditional transition, never both. Throws after publishing the gauge when some
 * resolution could not be queued, so the failure shows as a function error.
 */
export function createConflictSweeper(deps: ConflictSweeperDeps): ConflictSweeper {
  const { clock, logger, metrics } = telemetryOf(deps);
  const { flow } = deps;
  const { autoResolveAfter, autoResolveWith } = flow.conflict;
  const limitMs = autoResolveAfter !== undefined ? parseDurationMs(autoResolveAfter) : undefined;
  const why = `open longer than autoResolveAfter "${autoResolveAfter}", settled by autoResolveWith "${autoResolveWith}"`;

  /**
   * The open conflicts their records no longer hold (closed each sweep, so `conflicts list` does not show them as
   * open for long), and one settlement per field with a due conflict.
   */
  async function plan(open: StoredConflict[], now: number): Promise<{ stale: StoredConflict[]; settlements: Settlement[] }> {
    if (open.length === 0) return { stale: [], settlements: [] };
    const settles = limitMs !== undefined && autoResolveWith !== undefined;
    const due = new Set(settles ? open.filter((c) => now - c.openedAt >= limitMs!).map((c) => c.key) : []);
    // The due keys, and up to STALE_CHECK_KEYS others (a random few when more are open): a sweep's reads stay bounded.
    const others = [...new Set(open.map((c) => c.key))].filter((k) => !due.has(k));
    const checked = new Set([...due, ...sample(others, STALE_CHECK_KEYS)]);
    const states = await deps.state.getMany(flow.id, [...checked]);
    const live = new Set([...states.values()].flatMap((s) => conflictsOf(flow, s.doc).map((c) => c.id)));
    const stale = open.filter((c) => checked.has(c.key) && !live.has(c.id));
    if (!settles) return { stale, settlements: [] };
    const fields = new Map<string, StoredConflict[]>();
    for (const c of open) {
      if (!due.has(c.key) || !live.has(c.id)) continue;
      const id = JSON.stringify([c.key, c.field]);
      fields.set(id, [...(fields.get(id) ?? []), c]);
    }
    const settlements: Settlement[] = [];
    for (const group of fields.values()) {
      // Open conflicts of a field share the displayed side; each parks another source's edit.
      if (!group.some((c) => now - c.openedAt >= limitMs)) continue;
      const first = group[0]!;
      const winner = autoResolveWinner(flow, first.field, [first.current, ...group.map((c) => c.incoming)], autoResolveWith);
      const holder = group.find((c) => c.incoming === winner);
      settlements.push({ conflict: holder ?? first, choose: holder ? 'incoming' : 'current', siblings: group.length - 1 });
    }
    return { stale, settlements };
  }

  return async (options = {}) => {
    const open = await deps.conflicts.list(flow.id, 'open');
    const now = clock.now();
    const { stale, settlements } = await plan(open, now);
    let superseded = 0;
    for (const c of stale) if (await deps.conflicts.markSuperseded(flow.id, c.id, now)) superseded++;
    if (superseded > 0) logger.info('superseded conflicts closed', { flow: flow.id, conflicts: stale.map((c) => c.id) });
    let autoResolved = 0;
    let alreadyResolved = 0;
    let failed = 0;
    let deferred = 0;
    for (let i = 0; i < settlements.length; i += CONCURRENCY) {
      if (options.remainingMs && options.remainingMs() < RESERVE_MS) {
        deferred = settlements.length - i;
        break;
      }
      const answers = await Promise.all(
        settlements.slice(i, i + CONCURRENCY).map(({ conflict, choose }) =>
          settleConflict({ ...deps, clock, logger }, { target: deps, conflict, choice: { choose }, by: AUTO_RESOLVE_BY, why }).catch(
            (err: unknown): ReviewAnswer => {
              logger.error('auto-resolution failed', { flow: flow.id, conflict: conflict.id, error: safeErrorText(err) });
              return { status: 500, body: undefined };
            },
          ),
        ),
      );
      for (const a of answers) {
        if (a.status === 202) autoResolved++;
        // 409: a reviewer (or an overlapping sweep) settled it first; 404: it is gone. Either way it is not open.
        else if (a.status === 409 || a.status === 404) alreadyResolved++;
        else failed++;
      }
    }
    const summary: SweepSummary = { flow: flow.id, open: open.length - superseded - autoResolved - alreadyResolved, autoResolved, alreadyResolved, superseded, failed, deferred };
    metrics.gauge?.('OpenConflicts', summary.open);
    logger.info('conflict sweep done', { ...summary });
    if (failed > 0) throw new Error(`${failed} of ${settlements.length} auto-resolution(s) of flow "${flow.id}" could not be queued; they stay open for the next sweep`);
    return summary;
  };
}

import { safeErrorText } from '../core/error-text';
import { parseDurationMs } from '../core/duration';
import { autoResolveWinner, conflictsOf, type Conflict } from '../core/merge';
import {
  telemetryOf,
  type AuditLog,
  type Clock,
  type ConflictPage,
  type ConflictStore,
  type LogPort,
  type MetricsPort,
  type Publisher,
  type StateStore,
  type StoredConflict,
} from '../ports';
import { resolutionInFlight, settleConflict, type ReviewAnswer, type ReviewFlow } from './conflict-review';

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
  /** Open conflicts after the sweep (the `OpenConflicts` gauge); absent when too many to count before the invocation's end. */
  readonly open?: number;
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

/** One settlement: a field with a due conflict, settled through the conflict that holds the winner. */
interface Settlement {
  readonly conflict: StoredConflict;
  readonly choose: 'current' | 'incoming';
  /** The other conflicts the record holds on the field, which must stay unresolved while this one is settled. */
  readonly siblings: readonly string[];
}

/** Keys of open conflicts a sweep reads to find the superseded ones, besides those due for settling. */
export const STALE_CHECK_KEYS = 100;

/** Open conflicts read to find STALE_CHECK_KEYS keys: a record may hold several. */
const STALE_CHECK_CONFLICTS = 2 * STALE_CHECK_KEYS;

/** Open conflicts read per page, oldest first, while looking for due ones: a sweep holds one page at a time. */
export const DUE_PAGE = 100;

const byOpening = (a: StoredConflict, b: StoredConflict) => a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * One flow's conflict sweep (manual strategy), run on a schedule. A field with a conflict open longer than
 * `conflict.autoResolveAfter` is settled through the reviewer's path, by `syncline:auto-resolve`, with the value
 * that `conflict.autoResolveWith` keeps among every side the record holds open on that field (a resolution dominates
 * the whole field, so one settlement per field). Conflicts the record no longer holds (a newer edit replaced a side)
 * are closed as superseded at every sweep, with or without `autoResolveAfter`, never settled: settling them would
 * overwrite that newer edit. Then the open count is published as the `OpenConflicts` gauge. A reviewer settling a
 * conflict at the same time wins or loses the conditional transition, never both. Throws after publishing the gauge when some
 * resolution could not be queued, so the failure shows as a function error.
 *
 * Memory and reads stay bounded however many conflicts are open: due ones are read a page at a time, oldest first,
 * until the invocation runs short of time; superseded ones are looked for among at most {@link STALE_CHECK_KEYS} keys
 * a sweep, taking the open index in turn; the gauge is counted last, within the time left.
 */
export function createConflictSweeper(deps: ConflictSweeperDeps): ConflictSweeper {
  const { clock, logger, metrics } = telemetryOf(deps);
  const { flow } = deps;
  const { autoResolveAfter, autoResolveWith } = flow.conflict;
  const limitMs = autoResolveAfter !== undefined && autoResolveWith !== undefined ? parseDurationMs(autoResolveAfter) : undefined;
  const why = `open longer than autoResolveAfter "${autoResolveAfter}", settled by autoResolveWith "${autoResolveWith}"`;

  /** The conflicts each key's record still holds open, by key. */
  async function liveOf(keys: Iterable<string>): Promise<Map<string, Conflict[]>> {
    const states = await deps.state.getMany(flow.id, [...new Set(keys)]);
    return new Map([...states].map(([key, s]) => [key, conflictsOf(flow, s.doc)]));
  }

  /** Of `listed`, those whose record no longer holds them. */
  function staleAmong(listed: readonly StoredConflict[], live: Map<string, Conflict[]>): StoredConflict[] {
    return listed.filter((c) => !(live.get(c.key) ?? []).some((l) => l.id === c.id));
  }

  /**
   * One settlement per field of `due` the record still holds open, choosing among every open side of the field:
   * its sibling conflicts come from the record (they may be on no page read yet), each read when not in `page`.
   */
  async function settlementsOf(due: readonly StoredConflict[], page: readonly StoredConflict[], live: Map<string, Conflict[]>, planned: Set<string>, now: number): Promise<Settlement[]> {
    const listed = new Map(page.map((c) => [c.id, c]));
    const settlements: Settlement[] = [];
    for (const c of due) {
      const field = JSON.stringify([c.key, c.field]);
      if (planned.has(field)) continue;
      const held = (live.get(c.key) ?? []).filter((l) => l.field === c.field);
      if (!held.some((l) => l.id === c.id)) continue;
      planned.add(field);
      const stored = await Promise.all(
        held.map(async (l) => {
          // With siblings, each status read consistently: the listing may still show open one just resolved.
          const s = (held.length === 1 && listed.get(l.id)) || (await deps.conflicts.get(flow.id, l.id));
          // The values as the record holds them: a conflict too large for one item is stored without them.
          return s && { ...s, current: l.current, incoming: l.incoming };
        }),
      );
      // A sibling resolved but not yet merged: its resolution decides the field; a second one would override it.
      // One resolved long ago lost its change and is reopened, to be settled again with the group.
      const inFlight = await Promise.all(stored.map((s) => (s ? resolutionInFlight(deps.conflicts, flow.id, s, now) : false)));
      if (inFlight.some(Boolean)) {
        logger.info('field left to its resolution on its way', { flow: flow.id, key: c.key, field: c.field });
        continue;
      }
      const reopened = stored.map((s) => (s?.status === 'resolved' ? { ...s, status: 'open' as const } : s));
      const group = reopened.filter((s): s is StoredConflict => s?.status === 'open').sort(byOpening);
      // Open conflicts of a field share the displayed side; each parks another source's edit.
      const first = group[0] ?? c;
      const winner = autoResolveWinner(flow, first.field, [first.current, ...group.map((g) => g.incoming)], autoResolveWith!);
      const holder = group.find((g) => g.incoming === winner);
      const chosen = holder ?? first;
      settlements.push({ conflict: chosen, choose: holder ? 'incoming' : 'current', siblings: held.map((l) => l.id).filter((id) => id !== chosen.id) });
    }
    return settlements;
  }

  /** Closes `stale` as superseded; answers how many this sweep closed. */
  async function supersede(stale: readonly StoredConflict[], now: number): Promise<number> {
    let closed = 0;
    for (const c of stale) if (await deps.conflicts.markSuperseded(flow.id, c.id, now)) closed++;
    if (closed > 0) logger.info('superseded conflicts closed', { flow: flow.id, conflicts: stale.map((c) => c.id) });
    return closed;
  }

  /** Where the last stale check stopped: a warm sweeper goes on from there, so its checks cover every open conflict in turn. */
  let staleCursor: StoredConflict | undefined;

  /**
   * The open conflicts of up to STALE_CHECK_KEYS keys, after those the last check read (from a random opening time
   * after a cold start), wrapping round to the oldest.
   */
  async function staleCheckPage(now: number, skip: ReadonlySet<string>): Promise<StoredConflict[]> {
    let start: ConflictPage | undefined = staleCursor && { limit: STALE_CHECK_CONFLICTS, after: staleCursor };
    if (!start) {
      const [oldest] = await deps.conflicts.list(flow.id, 'open', { limit: 1 });
      if (!oldest) return [];
      start = { limit: STALE_CHECK_CONFLICTS, from: oldest.openedAt + Math.floor(Math.random() * Math.max(0, now - oldest.openedAt + 1)) };
    }
    const tail = await deps.conflicts.list(flow.id, 'open', start);
    const head = tail.length < STALE_CHECK_CONFLICTS ? await deps.conflicts.list(flow.id, 'open', { limit: STALE_CHECK_CONFLICTS - tail.length }) : [];
    const seen = new Set(tail.map((c) => c.id));
    const keys = new Set<string>();
    const page: StoredConflict[] = [];
    for (const c of [...tail, ...head.filter((h) => !seen.has(h.id))]) {
      if (!keys.has(c.key) && keys.size >= STALE_CHECK_KEYS) break;
      keys.add(c.key);
      staleCursor = c;
      if (!skip.has(c.key)) page.push(c);
    }
    return page;
  }

  return async (options = {}) => {
    const now = clock.now();
    const outOfTime = () => options.remainingMs !== undefined && options.remainingMs() < RESERVE_MS;
    let superseded = 0;
    let autoResolved = 0;
    let alreadyResolved = 0;
    let failed = 0;
    let deferred = 0;
    let tried = 0;
    const checked = new Set<string>();

    async function settle(settlements: readonly Settlement[]): Promise<void> {
      for (let i = 0; i < settlements.length; i += CONCURRENCY) {
        if (outOfTime()) {
          deferred += settlements.length - i;
          return;
        }
        const answers = await Promise.all(
          settlements.slice(i, i + CONCURRENCY).map(({ conflict, choose, siblings }) =>
            settleConflict({ ...deps, clock, logger }, { target: deps, conflict, choice: { choose }, by: AUTO_RESOLVE_BY, why, siblings }).catch(
              (err: unknown): ReviewAnswer => {
                logger.error('auto-resolution failed', { flow: flow.id, conflict: conflict.id, error: safeErrorText(err) });
                return { status: 500, body: undefined };
              },
            ),
          ),
        );
        tried += answers.length;
        for (const a of answers) {
          if (a.status === 202) autoResolved++;
          // 409: a reviewer (or an overlapping sweep) settled it first; 404: it is gone. Either way it is not open.
          else if (a.status === 409 || a.status === 404) alreadyResolved++;
          else failed++;
        }
      }
    }

    if (limitMs !== undefined) {
      // Oldest first: once a page holds a conflict that is not due, no later one is.
      const planned = new Set<string>();
      let after: StoredConflict | undefined;
      for (;;) {
        const page = await deps.conflicts.list(flow.id, 'open', { limit: DUE_PAGE, ...(after ? { after } : {}) });
        const due = page.filter((c) => now - c.openedAt >= limitMs);
        if (due.length > 0) {
          const live = await liveOf(due.map((c) => c.key));
          for (const c of due) checked.add(c.key);
          superseded += await supersede(staleAmong(due, live), now);
          await settle(await settlementsOf(due, page, live, planned, now));
        }
        if (page.length < DUE_PAGE || due.length < page.length || outOfTime()) break;
        after = page[page.length - 1];
      }
    }
    if (!outOfTime()) {
      const sample = await staleCheckPage(now, checked);
      if (sample.length > 0) superseded += await supersede(staleAmong(sample, await liveOf(sample.map((c) => c.key))), now);
    }
    // Counted last, so a large backlog cannot keep the sweep from settling; the index lags a closed conflict by little.
    const open = await deps.conflicts.countOpen(flow.id, outOfTime);
    const summary: SweepSummary = { flow: flow.id, ...(open !== undefined ? { open } : {}), autoResolved, alreadyResolved, superseded, failed, deferred };
    if (open !== undefined) metrics.gauge?.('OpenConflicts', open);
    else logger.warn('open conflicts not counted: the invocation ran short of time first', { flow: flow.id });
    logger.info('conflict sweep done', { ...summary });
    if (failed > 0) throw new Error(`${failed} of ${tried} auto-resolution(s) of flow "${flow.id}" could not be queued; they stay open for the next sweep`);
    return summary;
  };
}

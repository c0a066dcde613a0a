import { randomUUID } from 'node:crypto';
import type { PullRunState, SeenList } from '../../ports';
import type { PageResult } from './pull-types';
import { compareCursor, parseMs, type ScheduleSource } from './records';
import { parseDurationMs } from '../duration';

/** Key lists kept for the known-key union: the last accepted run plus the newest partial ones. */
const MAX_KNOWN_LISTS = 4;

/** The run this invocation works on: the active one continued, or a new one that inherits the known keys and the mark. */
export function openRun(flow: string, source: string, previous: PullRunState | undefined, restart: boolean, now: number): PullRunState {
  if (previous?.active && !restart) return { ...previous, invocations: previous.invocations + 1 };
  return {
    flow,
    source,
    active: true,
    runId: `${now.toString(36)}-${randomUUID().slice(0, 8)}`,
    startedAt: now,
    invocations: 1,
    failures: 0,
    pages: 0,
    records: 0,
    changed: 0,
    quarantined: 0,
    keylessQuarantined: false,
    seenChunks: 0,
    known: previous?.known ?? [],
    since: previous?.since,
    last: previous?.last,
  };
}

/** The run once a page is sent and recorded: it resumes after that page, and a failure streak ends. */
export function advanceRun(run: PullRunState, continuation: string | undefined, page: PageResult): PullRunState {
  return {
    ...run,
    continuation,
    pages: run.pages + 1,
    records: run.records + page.records,
    changed: run.changed + page.changed,
    quarantined: run.quarantined + page.quarantined,
    keylessQuarantined: run.keylessQuarantined || page.keyless,
    seenChunks: page.seenWritten ? run.seenChunks + 1 : run.seenChunks,
    hwm: page.hwm,
    failures: 0,
  };
}

/**
 * Incremental mode: whether a record's cursor is older than the committed mark less `lookbackMs` (the record is
 * unchanged), and the run's high-water mark after it. Records from the mark on are re-sent: same ids, merged
 * idempotently. A time after the run started does not raise the mark: a record changed while the run paged may sit
 * on a page already read (an API listed by creation, offsets that shift), so the next run reads from before it.
 */
export function trackCursor(run: PullRunState, hwm: string | undefined, cursor: string, lookbackMs = 0): { readonly older: boolean; readonly hwm?: string } {
  const floor = run.since === undefined ? undefined : lookedBack(run.since, lookbackMs);
  if (floor !== undefined && compareCursor(cursor, floor) < 0) return { older: true, hwm };
  if (pastStart(cursor, run.startedAt)) return { older: false, hwm };
  return { older: false, hwm: hwm === undefined || compareCursor(cursor, hwm) > 0 ? cursor : hwm };
}

const DAY_MS = 86_400_000;

/**
 * Whether a cursor is a time after the run started, so it must not raise the mark: any ISO-8601 time (a date far
 * ahead, a sentinel `9999-...`, stays out of the mark, or it would skip every change until then), and 13 digits of
 * epoch ms up to a day ahead (beyond, they are a sequence that no clock gives, which must move the mark).
 */
function pastStart(cursor: string, startedAt: number): boolean {
  const time = timeOfCursor(cursor);
  if (time === undefined || time <= startedAt) return false;
  return !/^\d+$/.test(cursor) || time <= startedAt + DAY_MS;
}

/** A cursor as a time (ms): ISO-8601, or epoch ms (13 digits, no leading 0); undefined for epoch s or µs or a sequence. */
function timeOfCursor(cursor: string): number | undefined {
  if (/^\d+$/.test(cursor)) return cursor.length === 13 && cursor[0] !== '0' ? Number(cursor) : undefined;
  return parseMs(cursor);
}

/** A source's `cursorLookback` in ms (0 without one). */
export function lookbackMsOf(source: Pick<ScheduleSource, 'cursorLookback'>): number {
  return source.cursorLookback === undefined ? 0 : parseDurationMs(source.cursorLookback);
}

/** The mark `lookbackMs` earlier, in its own form (ISO-8601 or epoch-ms digits); a mark that is no such time stays as it is. */
export function lookedBack(mark: string, lookbackMs: number): string {
  const ms = lookbackMs > 0 ? timeOfCursor(mark) : undefined;
  if (ms === undefined) return mark;
  return /^\d+$/.test(mark) ? String(ms - lookbackMs) : new Date(ms - lookbackMs).toISOString();
}

/** The finished run, inactive until the next one starts. */
export function closeRun(run: PullRunState, source: ScheduleSource, complete: boolean, known: readonly SeenList[], last: Record<string, unknown>): PullRunState {
  return {
    ...run,
    active: false,
    continuation: undefined,
    known,
    // The high-water mark moves only when every page up to it was read and sent.
    // A lookback reads records below the mark: the mark itself never goes back.
    since: source.mode === 'incremental' && complete && run.hwm !== undefined && (run.since === undefined || compareCursor(run.hwm, run.since) > 0) ? run.hwm : run.since,
    hwm: undefined,
    last,
  };
}

/** The known-key lists with this run's added, capped: the oldest (last accepted) list stays. */
export function withKnown(run: PullRunState, current: SeenList): SeenList[] {
  const lists = [...run.known, current];
  if (lists.length <= MAX_KNOWN_LISTS) return lists;
  return [lists[0]!, ...lists.slice(lists.length - (MAX_KNOWN_LISTS - 1))];
}

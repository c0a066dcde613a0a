import { randomUUID } from 'node:crypto';
import type { FlowConfig } from '../../config/schema';
import { ENVELOPE_VERSION, eventId, type ChangeEnvelope } from '../envelope';
import { MAX_RECORD_BYTES } from '../claim-check';
import type { AuditEntry, PulledPage, PullRunState, QuarantineItem, SeenList } from '../../ports';
import { inferDeletes } from './delete-inference';
import type { PullDeps, PullRequest, PullSummary } from './pull-types';
import { compareCursor, prepareRecord, pullKeyFields, type PreparedRecord } from './records';
import { RunStopError } from './run-stop';
import { SynclineError } from '../errors';

export { pullAuditKey } from './delete-inference';
export type { PullDeps, PullRequest, PullSummary } from './pull-types';

/** Key lists kept for the known-key union: the last accepted run plus the newest partial ones. */
const MAX_KNOWN_LISTS = 4;
const DEFAULT_MAX_PAGES = 10_000;

/** Runs (or continues) one pull of a `schedule` source. Infrastructure failures (state, queue) throw. */
export async function runPull(deps: PullDeps, request: PullRequest = {}): Promise<PullSummary> {
  const { flow, source, state, clock, logger, metrics } = deps;
  const reserveMs = deps.reserveMs ?? 60_000;
  const keyFields = pullKeyFields(flow, source);
  const auditKeyOf = auditKeyFn(flow, keyFields);
  const now = clock.now();

  if (!(await state.acquireLease(flow.id, source.id, deps.owner, now + Math.max(deps.remainingMs(), 1000) + 30_000, now))) {
    logger.info('pull already running elsewhere', { flow: flow.id, source: source.id });
    return { flow: flow.id, source: source.id, runId: '', pages: 0, records: 0, changed: 0, quarantined: 0, deletesInferred: 0, complete: false, continued: false, busy: true };
  }
  try {
    const previous = await state.getRun(flow.id, source.id);
    let run: PullRunState =
      previous?.active && !request.restart
        ? { ...previous, invocations: previous.invocations + 1 }
        : {
            flow: flow.id,
            source: source.id,
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
    if (previous?.active && request.restart) await state.dropSeen(flow.id, source.id, { runId: previous.runId, chunks: previous.seenChunks });
    const counts = { pages: 0, records: 0, changed: 0, quarantined: 0 };
    const maxPages = source.maxPagesPerRun ?? DEFAULT_MAX_PAGES;
    let finished = false;
    let partialReason: string | undefined;
    let error: string | undefined;
    let slowestPageMs = 0;

    const iterator = deps.reader.pages({ continuation: run.continuation, since: run.since })[Symbol.asyncIterator]();
    try {
      let pageStarted = clock.now();
      for (;;) {
        let next: IteratorResult<PulledPage>;
        try {
          next = await iterator.next();
        } catch (err) {
          throw new SourceError(err);
        }
        if (next.done) {
          // The reader ran out: the run is complete even if the last page still carried a continuation.
          finished = true;
          break;
        }
        const page = next.value;
        const pageNo = run.pages + 1;
        const result = await processPage(page.items, run);
        run = {
          ...run,
          continuation: page.next,
          pages: pageNo,
          records: run.records + result.records,
          changed: run.changed + result.changed,
          quarantined: run.quarantined + result.quarantined,
          keylessQuarantined: run.keylessQuarantined || result.keyless,
          seenChunks: result.seenWritten ? run.seenChunks + 1 : run.seenChunks,
          hwm: result.hwm,
          failures: 0,
        };
        counts.pages++;
        counts.records += result.records;
        counts.changed += result.changed;
        counts.quarantined += result.quarantined;
        // Checkpoint only now: the page's envelopes are sent and its keys recorded.
        await state.putRun(run);
        const took = clock.now() - pageStarted;
        slowestPageMs = Math.max(slowestPageMs, took);
        pageStarted = clock.now();
        if (page.next === undefined) {
          finished = true;
          break;
        }
        if (run.pages >= maxPages) {
          partialReason = `stopped at maxPagesPerRun (${maxPages})`;
          finished = true;
          await iterator.return?.();
          break;
        }
        if (deps.remainingMs() < Math.max(reserveMs, 2 * slowestPageMs)) {
          await iterator.return?.();
          break;
        }
      }
    } catch (caught) {
      // Our own failures (queue, state) throw: nothing after the last checkpoint was recorded, so a retry redoes it.
      if (!(caught instanceof SourceError)) throw caught;
      await iterator.return?.().catch(() => undefined);
      const err = caught.cause;
      error = err instanceof Error ? err.message : String(err);
      metrics.count('PullFailed', 1);
      logger.warn('pull failed', { flow: flow.id, source: source.id, runId: run.runId, page: run.pages + 1, error });
      const failures = run.failures + 1;
      run = { ...run, failures };
      if (err instanceof RunStopError) {
        // Retrying would loop the same way: the run ends now as partial.
        partialReason = error;
        finished = true;
      } else if (failures >= (deps.maxFailures ?? 3)) {
        partialReason = `abandoned after ${failures} failed attempts: ${error}`;
        finished = true;
      } else {
        await state.putRun(run);
      }
    }

    let deletesInferred = 0;
    let deletesRefused: number | undefined;
    let deletesSkipped: string | undefined;
    if (finished) {
      const complete = partialReason === undefined;
      let known: readonly SeenList[] = run.known;
      const current: SeenList = { runId: run.runId, chunks: run.seenChunks };
      if (source.mode === 'incremental') {
        deletesSkipped = 'incremental mode does not infer deletes';
      } else if (source.deletes?.enabled === false) {
        deletesSkipped = 'delete detection is disabled';
        known = [current];
      } else if (!complete) {
        deletesSkipped = `partial pull: ${partialReason}`;
      } else if (run.keylessQuarantined) {
        deletesSkipped = 'partial pull: a record without a readable key was quarantined';
      }
      if (source.mode === 'full') {
        if (deletesSkipped === undefined) {
          const inferred = await inferDeletes({ deps, send, auditKeyOf }, run, request.acceptDeletes === true);
          deletesInferred = inferred.deleted;
          deletesRefused = inferred.refused;
          known = inferred.refused === undefined ? [current] : capKnown([...run.known, current]);
        } else if (deletesSkipped !== 'delete detection is disabled') {
          known = capKnown([...run.known, current]);
        }
        // Drop key lists that no longer take part in the known set.
        const keep = new Set(known.map((k) => k.runId));
        for (const list of [...run.known, current]) if (!keep.has(list.runId)) await state.dropSeen(flow.id, source.id, list);
      } else {
        await state.dropSeen(flow.id, source.id, current);
        known = [];
      }
      const summary = {
        runId: run.runId,
        startedAt: run.startedAt,
        finishedAt: clock.now(),
        complete,
        pages: run.pages,
        records: run.records,
        changed: run.changed,
        quarantined: run.quarantined,
        deletesInferred,
        ...(deletesRefused !== undefined ? { deletesRefused } : {}),
        ...(deletesSkipped ? { deletesSkipped } : {}),
        ...(error ? { error } : {}),
      };
      run = {
        ...run,
        active: false,
        continuation: undefined,
        known,
        // The high-water mark moves only when every page up to it was read and sent.
        since: source.mode === 'incremental' && complete ? (run.hwm ?? run.since) : run.since,
        hwm: undefined,
        last: summary,
      };
      await state.putRun(run);
      logger.info('pull finished', { flow: flow.id, source: source.id, ...summary });
    }
    const complete = finished && partialReason === undefined;
    return {
      flow: flow.id,
      source: source.id,
      runId: run.runId,
      ...counts,
      deletesInferred,
      ...(deletesRefused !== undefined ? { deletesRefused } : {}),
      ...(deletesSkipped !== undefined ? { deletesSkipped } : {}),
      complete,
      continued: !finished,
      ...(error ? { error } : {}),
      ...(run.invocations > 1
        ? { run: { pages: run.pages, records: run.records, changed: run.changed, quarantined: run.quarantined, invocations: run.invocations } }
        : {}),
    };
  } finally {
    await state.releaseLease(flow.id, source.id, deps.owner).catch((err: unknown) => logger.warn('could not release pull lease', { error: String(err) }));
  }

  /** Prepares, diffs, sends and records one page. Throws if sending fails, before anything is checkpointed. */
  async function processPage(items: readonly { record?: unknown; error?: string; position: string }[], run: PullRunState) {
    const at = clock.now();
    const quarantined: QuarantineItem[] = [];
    const entries: AuditEntry[] = [];
    const seen = new Set<string>();
    let keyless = false;
    // Coalesce by key: the last occurrence on a page wins.
    const byKey = new Map<string, PreparedRecord>();
    let hwm = run.hwm;
    let records = 0;
    for (const item of items) {
      records++;
      const prepared =
        item.error !== undefined
          ? ({ ok: false, reason: item.error } as const)
          : prepareRecord(flow, source, keyFields, item.record, item.position, run.startedAt);
      if (prepared.ok && Buffer.byteLength(JSON.stringify(prepared.record), 'utf8') > MAX_RECORD_BYTES) {
        quarantineItem({ reason: `record is larger than ${MAX_RECORD_BYTES} bytes, the largest record syncline carries`, record: prepared.record, key: prepared.key }, item.position);
        continue;
      }
      if (!prepared.ok) {
        quarantineItem(prepared, item.position);
        continue;
      }
      seen.add(prepared.key);
      if (source.mode === 'incremental' && prepared.cursor !== undefined) {
        // Records older than the committed mark are unchanged; equal ones are re-sent (same ids, merged idempotently).
        if (run.since !== undefined && compareCursor(prepared.cursor, run.since) < 0) continue;
        if (hwm === undefined || compareCursor(prepared.cursor, hwm) > 0) hwm = prepared.cursor;
      }
      byKey.set(prepared.key, prepared);
    }

    let changed: PreparedRecord[] = [...byKey.values()];
    if (source.mode === 'full' && changed.length > 0) {
      const last = await state.getKeys(flow.id, source.id, changed.map((r) => r.key));
      changed = changed.filter((r) => last.get(r.key)?.hash !== r.hash);
    }
    const envelopes: ChangeEnvelope[] = changed.map((r) => ({
      v: ENVELOPE_VERSION,
      id: r.id,
      flow: flow.id,
      source: source.id,
      key: '',
      op: 'upsert',
      data: r.record,
      ts: r.ts,
      seq: r.seq,
      lineage: [{ step: 'capture', at, outcome: 'captured' }],
    }));
    for (const r of changed) {
      entries.push({ flow: flow.id, key: auditKeyOf(r.key), step: 'capture', at, source: source.id, eventId: r.id, outcome: 'captured', detail: { op: 'upsert' } });
    }
    await send(envelopes);
    if (quarantined.length) await deps.quarantine.put(quarantined);
    if (entries.length) await deps.audit.write(entries);
    if (source.mode === 'full') {
      if (changed.length) await state.putKeys(flow.id, source.id, changed.map((r) => ({ key: r.key, hash: r.hash, keyData: r.keyData })));
      if (seen.size) await state.appendSeen(flow.id, source.id, run.runId, run.seenChunks, [...seen]);
    }
    if (quarantined.length) metrics.count('Quarantined', quarantined.length);
    if (envelopes.length) metrics.count('Captured', envelopes.length);
    return { records, changed: envelopes.length, quarantined: quarantined.length, keyless, hwm, seenWritten: source.mode === 'full' && seen.size > 0 };

    function quarantineItem(rejected: { reason: string; record?: Record<string, unknown>; key?: string }, position: string): void {
      const id = eventId(flow.id, source.id, 'quarantine', position, rejected.key ?? '', run.runId);
      if (rejected.key !== undefined) seen.add(rejected.key);
      else keyless = true;
      quarantined.push({
        flow: flow.id,
        id,
        source: source.id,
        at,
        reason: rejected.reason,
        errors: [`${position}: ${rejected.reason}`],
        record: rejected.record ? deps.maskRecord(rejected.record) : {},
        envelope: { v: ENVELOPE_VERSION, id, flow: flow.id, source: source.id, key: '', op: 'upsert', ts: at, seq: position, lineage: [{ step: 'capture', at, outcome: 'quarantined' }] },
        position,
      });
      entries.push({
        flow: flow.id,
        key: rejected.key !== undefined ? auditKeyOf(rejected.key) : '',
        step: 'capture',
        at,
        source: source.id,
        eventId: id,
        outcome: 'quarantined',
        reason: `${rejected.reason} (${position})`,
      });
    }
  }

  async function send(envelopes: readonly ChangeEnvelope[]): Promise<void> {
    if (envelopes.length === 0) return;
    const { failed } = await deps.publisher.send(
      deps.transformQueueUrl,
      envelopes.map((e) => ({ id: e.id, body: JSON.stringify(e) })),
    );
    if (failed.length > 0) throw new Error(`${failed.length} of ${envelopes.length} envelopes could not be sent to the transform queue`);
  }
}

/** A failure of the source (fetch, read), as opposed to our own infrastructure. */
class SourceError extends SynclineError {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'SourceError';
  }
}

function capKnown(lists: readonly SeenList[]): SeenList[] {
  if (lists.length <= MAX_KNOWN_LISTS) return [...lists];
  return [lists[0]!, ...lists.slice(lists.length - (MAX_KNOWN_LISTS - 1))];
}

/** The audit key of a pulled record: its raw key when the transform leaves the key fields alone, else '' (set by transform). */
function auditKeyFn(flow: FlowConfig, keyFields: readonly string[]): (key: string) => string {
  const t = flow.transform;
  const touched = [
    ...Object.keys(t.rename ?? {}),
    ...Object.values(t.rename ?? {}),
    ...Object.keys(t.set ?? {}),
    ...Object.keys(t.compute ?? {}),
    ...Object.keys(t.mask ?? {}),
  ];
  const raw =
    t.detectPii !== 'mask' &&
    keyFields.length === flow.key.length &&
    keyFields.every((k, i) => k === flow.key[i]) &&
    flow.key.every((k) => !touched.some((p) => p === k || k.startsWith(`${p}.`) || p.startsWith(`${k}.`)));
  return raw ? (key) => key : () => '';
}

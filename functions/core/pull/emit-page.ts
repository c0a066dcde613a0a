import { captureKeys } from '../transform/raw-record';
import type { FlowConfig } from '../../config/schema';
import { recordSizeProblem } from '../record-limits';
import { quarantineOf } from '../capture/capture-outcome';
import { contentHash, ENVELOPE_VERSION, eventId, type ChangeEnvelope } from '../envelope';
import { storableCopy } from '../json-safety';
import type { AuditEntry, PulledItem, PullRunState, QuarantineItem } from '../../ports';
import type { PageResult, PullContext, PullDeps } from './pull-types';
import { prepareRecord, type PreparedRecord, type RejectedRecord } from './records';
import { lookbackMsOf, trackCursor } from './run-state';

type Rejection = RejectedRecord & { readonly position: string };

/** A page's items sorted out before anything is written. */
interface SortedPage {
  /** One record a key: the last occurrence on the page wins. */
  readonly records: readonly PreparedRecord[];
  readonly rejected: readonly Rejection[];
  /** Keys present at the source, rejected ones with a readable key included. */
  readonly seen: ReadonlySet<string>;
  readonly keyless: boolean;
  readonly hwm?: string;
}

/** Prepares, diffs, sends and records one page. Throws if sending fails, before anything is checkpointed. */
export async function emitPage(ctx: PullContext, items: readonly PulledItem[], run: PullRunState): Promise<PageResult> {
  const { deps } = ctx;
  const { flow, source, state, metrics } = deps;
  const at = deps.clock.now();
  const page = sortPage(ctx, items, run);
  const quarantined = page.rejected.map((r) => rejectionOf(ctx, at, r));
  // Full mode: each key's name in the pull's state (an HMAC when sealed), worked out once per page.
  const ids = source.mode === 'full' ? new Map([...page.seen].map((k) => [k, ctx.keys.id(k)])) : undefined;
  const changed = ids ? await changedRecords(ctx, page.records, ids) : page.records;
  const envelopes = changed.map((r) => captureEnvelope(flow.id, source.id, r, at));
  const entries: AuditEntry[] = [
    ...quarantined.map((q) => q.entry),
    ...changed.map((r): AuditEntry => ({ flow: flow.id, key: ctx.auditKeyOf(r.key), step: 'capture', at, source: source.id, eventId: r.id, outcome: 'captured', detail: { op: 'upsert' } })),
  ];
  await ctx.send(envelopes);
  if (quarantined.length) await deps.quarantine.put(quarantined.map((q) => q.item));
  if (entries.length) await deps.audit.write(entries);
  if (ids) {
    const { keys } = ctx;
    if (changed.length) await state.putKeys(flow.id, source.id, changed.map((r) => keys.entry(ids.get(r.key)!, keys.hash(r.hash), r.keyData)));
    if (ids.size) await state.appendSeen(flow.id, source.id, run.runId, run.seenChunks, [...ids.values()]);
  }
  if (quarantined.length) metrics.count('Quarantined', quarantined.length);
  if (envelopes.length) metrics.count('Captured', envelopes.length);
  return {
    records: items.length,
    changed: envelopes.length,
    quarantined: quarantined.length,
    keyless: page.keyless,
    hwm: page.hwm,
    seenWritten: source.mode === 'full' && page.seen.size > 0,
  };
}

function sortPage(ctx: PullContext, items: readonly PulledItem[], run: PullRunState): SortedPage {
  const { flow, source } = ctx.deps;
  const rejected: Rejection[] = [];
  const seen = new Set<string>();
  const byKey = new Map<string, PreparedRecord>();
  let keyless = false;
  let hwm = run.hwm;
  const lookbackMs = lookbackMsOf(source);
  for (const item of items) {
    const prepared = withinSize(
      item.error !== undefined ? { ok: false, reason: item.error } : prepareRecord(flow, source, ctx.keyFields, item.record, item.position, run.startedAt),
    );
    if (!prepared.ok) {
      rejected.push({ ...prepared, position: item.position });
      // A rejected record with a key still counts as present: no delete is inferred for it.
      if (prepared.key !== undefined) seen.add(prepared.key);
      else keyless = true;
      continue;
    }
    seen.add(prepared.key);
    if (source.mode === 'incremental' && prepared.cursor !== undefined) {
      const mark = trackCursor(run, hwm, prepared.cursor, lookbackMs);
      hwm = mark.hwm;
      if (mark.older) continue;
    }
    byKey.set(prepared.key, prepared);
  }
  return { records: [...byKey.values()], rejected, seen, keyless, hwm };
}

function withinSize(prepared: PreparedRecord | RejectedRecord): PreparedRecord | RejectedRecord {
  const tooLarge = prepared.ok ? recordSizeProblem(JSON.stringify(prepared.record), 'upsert') : undefined;
  return tooLarge && prepared.ok ? { ok: false, reason: tooLarge, record: prepared.record, key: prepared.key } : prepared;
}

/** Full mode sends only records whose hash differs from the one last sent for their key (`ids`: the keys' names). */
async function changedRecords({ deps, keys }: PullContext, records: readonly PreparedRecord[], ids: ReadonlyMap<string, string>): Promise<readonly PreparedRecord[]> {
  const { flow, source, state } = deps;
  if (records.length === 0) return records;
  const last = await state.getKeys(flow.id, source.id, records.map((r) => ids.get(r.key)!));
  return records.filter((r) => last.get(ids.get(r.key)!)?.hash !== keys.hash(r.hash));
}

function captureEnvelope(flow: string, source: string, r: PreparedRecord, at: number): ChangeEnvelope {
  return { v: ENVELOPE_VERSION, id: r.id, flow, source, key: '', op: 'upsert', data: r.record, ts: r.ts, seq: r.seq, lineage: [{ step: 'capture', at, outcome: 'captured' }] };
}

function rejectionOf(ctx: PullContext, at: number, rejected: Rejection): { item: QuarantineItem; entry: AuditEntry } {
  const { flow, source, maskRecord } = ctx.deps;
  const { position, reason, record } = rejected;
  // By record and reason, not by run: a record an incremental pull reads again on each run (newer than every
  // accepted one, so the mark stays before it) keeps one quarantine item instead of adding one per run.
  // Of a depth-capped copy: a record nested thousands deep, refused for that, would overflow a hash's walk.
  const id = eventId(flow.id, source.id, 'quarantine', rejected.key ?? position, contentHash(storableCopy(record ?? {})), reason);
  const auditKey = rejected.key !== undefined ? ctx.rejectedKeyOf(rejected.key) : '';
  // A page holds many items: errors and the audit reason name the item's position.
  return quarantineOf(flow, {
    id,
    source: source.id,
    at,
    reason,
    errors: [`${position}: ${reason}`],
    record,
    mask: maskRecord,
    seq: position,
    position,
    key: '',
    auditKey,
    auditReason: `${reason} (${position})`,
  });
}

/** Sends envelopes to the transform queue; throws when some could not be sent. */
export function transformQueueSender(deps: PullDeps): PullContext['send'] {
  return async (envelopes) => {
    if (envelopes.length === 0) return;
    const { failed } = await deps.publisher.send(
      deps.transformQueueUrl,
      envelopes.map((e) => ({ id: e.id, body: JSON.stringify(e) })),
    );
    if (failed.length > 0) throw new Error(`${failed.length} of ${envelopes.length} envelopes could not be sent to the transform queue`);
  };
}

/** The audit key of a pulled record: its raw key when the transform leaves the key fields alone, else '' (set by transform). */
export function auditKeyFn(flow: FlowConfig, keyFields: readonly string[]): (key: string) => string {
  const raw = keyFields.length === flow.key.length && keyFields.every((k, i) => k === flow.key[i]) && captureKeys(flow).readsKey;
  return raw ? (key) => key : () => '';
}

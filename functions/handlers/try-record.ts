import type { FlowConfig, SourceConfig } from '../config/schema';
import { parseDebeziumBody, upsertProblem } from '../core/capture/debezium';
import { selectAttributes } from '../core/capture/dynamodb-stream';
import { arrivalSeq, canonicalJson, ENVELOPE_VERSION, eventId, type ChangeEnvelope, type Op } from '../core/envelope';
import { carryProblems, isJsonObject, settleDeleteNumbers } from '../core/json-safety';
import { isSnsNotification, snsMessageOf } from '../core/capture/sns-notification';
import { captureKeys } from '../core/transform/raw-record';
import { keptAfterTransform } from '../core/transform/kept-fields';
import { mergeChanges } from '../core/merge';
import { isPlainObject } from '../core/shape';
import type { Transformer, TransformResult } from '../core/transform/pipeline';
import { isDelete, recordOf, timestampOf } from '../core/webhook/event-record';
import type { StateStore } from '../ports';
import type { AdminAnswer } from './admin-api';

/** What `POST /flows/{flowId}/try` needs: nothing here can write. */
export interface TryRecordDeps {
  readonly flow: FlowConfig;
  /** The flow's transform, compiled with the deployment's hash key. */
  readonly transformer: () => Promise<Transformer>;
  readonly state: Pick<StateStore, 'get'>;
  readonly now: () => number;
}

/** What resolve would do with the record against its key's current state. */
export interface TryResolve {
  /** `new`: no state yet; `changed`: a new version; `unchanged`: same record; `superseded`: a newer change wins; `conflict`: parked for review. */
  readonly outcome: 'new' | 'changed' | 'unchanged' | 'superseded' | 'conflict';
  readonly reason: string;
  readonly currentVersion: number;
  /** The version resolve would write; the current one when nothing changes. */
  readonly version: number;
  /** Fields whose value would change (top level), sorted. */
  readonly changedFields: readonly string[];
  readonly deleted: boolean;
  /** Conflicts this record would open (manual review), values masked as the record is. */
  readonly conflicts: readonly { readonly field: string; readonly current: unknown; readonly incoming: unknown; readonly currentSource: string }[];
}

export interface TryAnswer {
  readonly flow: string;
  readonly source: string;
  readonly op: Op;
  /** `passed` when the record would go on to resolve; `filtered` or `quarantined` (or `skipped`, a Debezium event that is no row change). */
  readonly outcome: 'passed' | 'filtered' | 'quarantined' | 'skipped';
  readonly key?: string;
  /** The record as resolve would get it, masked. */
  readonly record?: Record<string, unknown>;
  readonly pattern?: Record<string, unknown>;
  readonly reason?: string;
  readonly errors?: readonly string[];
  readonly piiFlagged?: readonly string[];
  readonly resolve?: TryResolve;
  /** Always false: a dry run writes nowhere, not even audit. */
  readonly written: false;
}

const bad = (message: string): AdminAnswer => ({ status: 400, body: { message } });

/** A change as capture makes it: a Debezium event also has its log position and the columns it did not send. */
type Captured = { op: Op; ts: number; data: Record<string, unknown>; seq: string; pos?: string; keep?: readonly string[] };

/** The record as the capture of `source` would turn it into a change: op, time and data. */
function captured(flow: FlowConfig, source: SourceConfig, record: Record<string, unknown>, headers: Readonly<Record<string, string>>, now: number): Captured | { skipped: string } | { quarantined: string; op: Op } {
  // A bundle for a flow without Debezium sources leaves the Debezium reader out (function-bundling.ts).
  if (source.type === 'webhook' && source.format === 'debezium' && (typeof __SYNCLINE_READS_DEBEZIUM__ === 'undefined' || __SYNCLINE_READS_DEBEZIUM__)) {
    const item = parseDebeziumBody(record, source.table)[0]!;
    if (item.kind === 'skipped') return { skipped: `not a row change (${item.reason})` };
    if (item.kind === 'malformed') return { quarantined: item.reason, op: 'upsert' };
    if (item.kind === 'truncate') return { skipped: `a truncate of ${item.table}, audited and handled by onTruncate, not a row change` };
    const refused = upsertProblem(flow, source, item);
    if (refused !== undefined) return { quarantined: refused, op: item.op };
    return { op: item.op, ts: item.ts ?? now, data: item.data, seq: item.pos ?? 'try', ...(item.pos !== undefined ? { pos: item.pos } : {}), ...(item.unavailable ? { keep: item.unavailable } : {}) };
  }
  if (source.type === 'webhook') {
    // `record` is the event as the sender posts it; the record sits at the source's recordPath.
    const data = recordOf(source, record);
    if (data === undefined) return { skipped: `the event has no record at recordPath "${source.recordPath}"` };
    const op = isDelete(source, record, headers) ? 'delete' : 'upsert';
    const ts = timestampOf(source, record, data, now, op);
    if (typeof ts === 'string') return { quarantined: ts, op };
    return { op, ts, data, seq: arrivalSeq(op, now, 'try') };
  }
  if (source.type === 'dynamodb-stream') return { op: 'upsert', ts: now, data: selectAttributes(record, source.attributes), seq: 'try' };
  if (source.type === 'sqs' && isSnsNotification(record)) {
    // A notification as it sits on the queue: the capture reads its Message.
    const message = snsMessageOf(record);
    if ('error' in message) return { quarantined: message.error, op: 'upsert' };
    if (!isJsonObject(message.body)) return { quarantined: 'SNS Message is not a record (try takes one record)', op: 'upsert' };
    return captured(flow, source, message.body, headers, now);
  }
  if (source.type === 'sqs' || source.type === 'eventbridge') {
    // The record as the message body (sqs) or the event's detail (eventbridge) holds it.
    const ts = timestampOf(source, record, record, now);
    if (typeof ts === 'string') return { quarantined: ts, op: 'upsert' };
    return { op: 'upsert', ts, data: record, seq: arrivalSeq('upsert', now, 'try') };
  }
  return { op: 'upsert', ts: now, data: record, seq: 'try' };
}

/**
 * The change as capture lets it go on: an upsert with a number a JSON number cannot hold (or another value that cannot
 * be carried) is quarantined with its path before the transform sees it; a delete keeps its key's digits.
 */
function carried(flow: FlowConfig, change: ReturnType<typeof captured>): ReturnType<typeof captured> {
  if (!('data' in change)) return change;
  if (change.op === 'delete') return { ...change, data: settleDeleteNumbers(change.data, captureKeys(flow).paths) };
  const unstorable = carryProblems(change.data);
  return unstorable.length > 0 ? { quarantined: `record cannot be carried exactly: ${unstorable[0]}`, op: change.op } : change;
}

function changedFields(before: Record<string, unknown> | null, after: Record<string, unknown> | null): string[] {
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...names].filter((f) => canonicalJson(before?.[f] ?? null) !== canonicalJson(after?.[f] ?? null)).sort();
}

/**
 * `POST /flows/{flowId}/try` with `{"record": {...}, "source"?: id}`: a dry run of one record through capture,
 * transform and resolve against the key's current state. It reads state and writes nothing.
 */
export async function tryRecord(deps: TryRecordDeps, body: unknown): Promise<AdminAnswer> {
  const { flow } = deps;
  if (!isPlainObject(body) || !isPlainObject(body.record)) return bad('the body must be {"record": {...}, "source"?: "<source id>", "headers"?: {...}} with the record as a JSON object');
  if (body.source !== undefined && typeof body.source !== 'string') return bad('"source" must be a source id');
  const source = body.source === undefined ? flow.sources[0]! : flow.sources.find((s) => s.id === body.source);
  if (!source) return { status: 404, body: { message: `flow "${flow.id}" has no source "${String(body.source)}" (sources: ${flow.sources.map((s) => s.id).join(', ')})` } };
  const now = deps.now();
  const base = { flow: flow.id, source: source.id, written: false as const };
  if (body.headers !== undefined && !(isPlainObject(body.headers) && Object.values(body.headers).every((v) => typeof v === 'string'))) return bad('"headers" must map header names to strings');
  const headers = Object.fromEntries(Object.entries((body.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
  const change = carried(flow, captured(flow, source, body.record, headers, now));
  if ('skipped' in change) return { status: 200, body: { ...base, op: 'upsert', outcome: 'skipped', reason: change.skipped } satisfies TryAnswer };
  if ('quarantined' in change) return { status: 200, body: { ...base, op: change.op, outcome: 'quarantined', reason: change.quarantined, errors: [change.quarantined] } satisfies TryAnswer };

  const result: TransformResult = await (await deps.transformer()).apply(change.data, change.op);
  const op = change.op;
  if (result.status === 'filtered') return { status: 200, body: { ...base, op, outcome: 'filtered', ...(result.key ? { key: result.key } : {}), pattern: result.pattern } satisfies TryAnswer };
  if (result.status === 'quarantined') {
    return { status: 200, body: { ...base, op, outcome: 'quarantined', ...(result.key ? { key: result.key } : {}), reason: result.reason, errors: result.errors } satisfies TryAnswer };
  }

  const env: ChangeEnvelope = {
    v: ENVELOPE_VERSION,
    id: eventId(flow.id, source.id, 'try', canonicalJson(result.record), now),
    flow: flow.id,
    source: source.id,
    key: result.key,
    op,
    ...(op === 'delete' ? {} : { data: result.record }),
    ts: change.ts,
    seq: change.seq,
    ...(change.pos !== undefined ? { pos: change.pos } : {}),
    ...(change.keep ? { keep: keptAfterTransform(flow.transform, change.keep) } : {}),
    lineage: [],
  };
  const state = await deps.state.get(flow.id, result.key);
  const merged = mergeChanges(flow, state?.doc, [env]);
  const decision = merged.decisions[0]!;
  const known = new Set(state ? mergeChanges(flow, state.doc, []).conflicts.map((c) => c.id) : []);
  const opened = merged.conflicts.filter((c) => !known.has(c.id));
  const currentVersion = state?.version ?? 0;
  const outcome: TryResolve['outcome'] =
    opened.length > 0 || decision.outcome === 'conflict' ? 'conflict' : !merged.changed ? (decision.outcome === 'superseded' ? 'superseded' : 'unchanged') : state ? 'changed' : 'new';
  const resolve: TryResolve = {
    outcome,
    reason: decision.reason,
    currentVersion,
    // Resolve writes a new version whenever the doc changes, even when the visible record does not (resolveKey).
    version: !state || merged.changed || merged.docChanged ? currentVersion + 1 : currentVersion,
    changedFields: merged.changed ? changedFields(state?.view.data ?? null, merged.view.data) : [],
    deleted: merged.view.deleted,
    conflicts: opened.map((c) => ({ field: c.field, current: c.current.value, incoming: c.incoming.value, currentSource: c.current.source })),
  };
  return {
    status: 200,
    body: {
      ...base,
      op,
      outcome: 'passed',
      key: result.key,
      record: result.record,
      ...(result.piiFlagged ? { piiFlagged: result.piiFlagged } : {}),
      resolve,
    } satisfies TryAnswer,
  };
}

/** Whether the bundle holds the Debezium reader (esbuild define); undefined when unbundled. */
declare const __SYNCLINE_READS_DEBEZIUM__: boolean | undefined;

import type { FlowConfig, SourceConfig } from '../config/schema';
import { parseDebeziumBody, upsertProblem } from '../core/capture/debezium';
import { captureProblem, quarantineOf } from '../core/capture/capture-outcome';
import { canonicalJson, ENVELOPE_VERSION, eventId, truncateScopeProblem, type ChangeEnvelope, type TruncateMessage } from '../core/envelope';
import { carryProblems, settleDeleteNumbers } from '../core/json-safety';
import { captureKeys } from '../core/transform/raw-record';
import type { AuditEntry, QuarantineItem } from '../ports';

type WebhookSource = Extract<SourceConfig, { type: 'webhook' }>;

/** What one Debezium request body turns into: envelopes to transform, quarantined events, audit entries and counts. */
export interface DebeziumCapture {
  readonly envelopes: ChangeEnvelope[];
  /** Truncates to expand into deletes (`onTruncate: "delete"` only). */
  readonly truncates: TruncateMessage[];
  readonly quarantined: QuarantineItem[];
  readonly entries: AuditEntry[];
  /** Elements that hold no row change: tombstones, unselected tables, heartbeats, transaction boundaries, schema changes, messages. */
  readonly skipped: number;
  readonly truncated: number;
}

/**
 * Debezium change events to envelopes: op, before/after, ts and the log position come from the events, tables from
 * the source's selection. `position` of an element is the webhook id and its index, its place in the request.
 */
export function captureDebeziumBody(flow: FlowConfig, source: WebhookSource, webhookId: string, body: unknown, now: number): DebeziumCapture {
  const out: DebeziumCapture = { envelopes: [], truncates: [], quarantined: [], entries: [], skipped: 0, truncated: 0 };
  const deletesOnTruncate = source.onTruncate === 'delete';
  const keys = captureKeys(flow);
  const counts = { skipped: 0, truncated: 0 };
  for (const item of parseDebeziumBody(body, source.table)) {
    const position = `${webhookId}#${String(item.index).padStart(3, '0')}`;
    if (item.kind === 'skipped') {
      counts.skipped++;
      continue;
    }
    if (item.kind === 'truncate') {
      const id = eventId(flow.id, source.id, item.table, item.pos ?? position, 't');
      const unscoped = deletesOnTruncate ? truncateScopeProblem(flow.id, source.id, item.table) : undefined;
      if (unscoped !== undefined) {
        const { item: quarantined, entry } = quarantineOf(flow, { id, source: source.id, at: now, reason: `truncate not applied: ${unscoped}`, seq: item.pos ?? position, position, auditKey: '' });
        out.quarantined.push(quarantined);
        out.entries.push(entry);
        continue;
      }
      counts.truncated++;
      const detail = { table: item.table, onTruncate: source.onTruncate, ...(item.pos !== undefined ? { position: item.pos } : {}), ...(item.ts !== undefined ? { ts: item.ts } : {}) };
      out.entries.push({ flow: flow.id, key: '', step: 'capture', at: now, source: source.id, eventId: id, outcome: 'truncated', reason: `table ${item.table} truncated${item.pos !== undefined ? ` at log position ${item.pos}` : ''}`, detail });
      if (deletesOnTruncate) {
        out.truncates.push({ v: ENVELOPE_VERSION, kind: 'truncate', id, flow: flow.id, source: source.id, table: item.table, ts: item.ts ?? now, seq: item.pos ?? position, ...(item.pos !== undefined ? { pos: item.pos } : {}), at: now });
      }
      continue;
    }
    const seq = item.kind === 'change' && item.pos !== undefined ? item.pos : position;
    const identity = item.kind === 'change' ? [item.table, seq, item.operation, canonicalJson(item.data)] : [position];
    const id = eventId(flow.id, source.id, ...identity);
    const op = item.kind === 'change' ? item.op : 'upsert';
    const base = { v: ENVELOPE_VERSION, id, flow: flow.id, source: source.id, key: '', op, seq } as const;
    const record = item.kind === 'change' ? item.data : item.record;
    // Row values a JSON number cannot hold (a plain int64 beyond 2^53) keep their digits here, and an upsert with one is
    // refused. A delete needs only its key: it is never refused for them (settleDeleteNumbers).
    const unstorable = item.kind === 'change' && item.op === 'upsert' ? carryProblems(item.data) : [];
    // An upsert is indexed under its table for onTruncate "delete"; a delete never is, so it goes on without one.
    const unscoped = item.kind === 'change' && deletesOnTruncate ? truncateScopeProblem(flow.id, source.id, item.table) : undefined;
    const first = item.kind === 'malformed' ? item.reason : upsertProblem(flow, source, item);
    // The whole event is measured, not only its row: what the size reason calls a change event.
    const problem = captureProblem(flow, { first, unstorable, sized: item, op, what: 'change event' });
    const key = keys.keyOf(record);
    if (problem !== undefined || item.kind !== 'change') {
      const reason = problem ?? 'malformed change event';
      // The record is stored masked as storable: exact number texts as strings (a quarantined event may hold `source.ts_ns`).
      const { item: quarantined, entry } = quarantineOf(flow, { id, source: source.id, at: now, reason, unstorable, record, op, seq, position });
      out.quarantined.push(quarantined);
      out.entries.push(entry);
      continue;
    }
    out.envelopes.push({
      ...base,
      ts: item.ts ?? now,
      ...(item.pos !== undefined ? { pos: item.pos } : {}),
      ...(deletesOnTruncate && unscoped === undefined ? { tbl: item.table } : {}),
      ...(item.unavailable ? { keep: item.unavailable } : {}),
      data: item.op === 'delete' ? settleDeleteNumbers(item.data, keys.paths) : item.data,
      // `before` only tells which fields an upsert changed; one holding such a number is left out rather than altered.
      ...(item.before && item.op === 'upsert' && carryProblems(item.before).length === 0 ? { before: item.before } : {}),
      lineage: [{ step: 'capture', at: now, outcome: 'captured' }],
    });
    const detail = {
      op: item.op,
      table: item.table,
      ...(item.pos !== undefined ? { position: item.pos } : {}),
      ...(item.operation === 'r' ? { snapshot: true } : {}),
      ...(item.unavailable ? { unchanged: item.unavailable } : {}),
    };
    out.entries.push({ flow: flow.id, key, step: 'capture', at: now, source: source.id, eventId: id, outcome: 'captured', detail });
  }
  return { ...out, ...counts };
}

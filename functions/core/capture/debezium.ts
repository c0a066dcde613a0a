/**
 * Debezium change events (JSON converter output, as Debezium Server's HTTP sink posts them), pure: unwraps
 * `{schema, payload}`, tells row changes from the events that are not (heartbeats, transaction boundaries, schema
 * changes, logical messages, truncates), selects tables, decodes values, and derives `ts` and the log position.
 * Shapes: https://debezium.io/documentation/reference/stable/connectors/postgresql.html#postgresql-events (and the
 * same section of the MySQL, SQL Server, Oracle and MongoDB pages).
 */
import type { FlowConfig } from '../../config/schema';
import { truncateScopeProblem, type Op } from '../envelope';
import { InexactNumber, isJsonObject as isObject, settleNumbers } from '../json-safety';
import { positionOf, sourceTimeOf } from './debezium-position';
import { decodeRow, isUnavailable, rowSchemaOf } from './debezium-values';
import { applyUpdate, reachesInside, type UpdateDescription } from './mongo-update';
import { mongoDocument } from './mongodb-extended-json';

export { positionOf } from './debezium-position';

/** Debezium-style table selection: entries such as `inventory.customers`, `public.*`; `*` matches any run of characters. */
export interface TableSelection {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/** The `source` block fields syncline reads (`collection` for MongoDB). */
export interface DebeziumSourceInfo {
  readonly connector?: string;
  readonly db?: string;
  readonly schema?: string;
  readonly table?: string;
}

export type DebeziumOp = 'c' | 'u' | 'r' | 'd';

/** Why an element of the body holds no row change. */
export type SkipReason = 'tombstone' | 'table not selected' | 'heartbeat' | 'transaction boundary' | 'schema change' | 'message';

/** One element of a Debezium request body, classified. `index` is its position in the body (0 for a single event). */
export type DebeziumItem =
  | {
      readonly kind: 'change';
      readonly index: number;
      readonly op: Op;
      /** The Debezium operation: `r` is a snapshot read. */
      readonly operation: DebeziumOp;
      /** `after` for c/u/r, `before` for d (it carries the key columns); decoded, unavailable columns left out. */
      readonly data: Record<string, unknown>;
      readonly before?: Record<string, unknown>;
      /** Most precise source time in ms (fractions kept); undefined when the event has none. */
      readonly ts?: number;
      /** The connector's log position, ordered as strings; undefined when absent. */
      readonly pos?: string;
      /** Columns whose value the connector did not send (`__debezium_unavailable_value`): left as they are. */
      readonly unavailable?: readonly string[];
      /** MongoDB: an update of some whole top-level fields, without the document; `data` holds those fields only. */
      readonly partial?: true;
      /** `db.schema.table` (or `db.collection`) with the parts that are present. */
      readonly table: string;
    }
  | { readonly kind: 'truncate'; readonly index: number; readonly table: string; readonly ts?: number; readonly pos?: string }
  | { readonly kind: 'skipped'; readonly index: number; readonly reason: SkipReason; readonly table?: string }
  | { readonly kind: 'malformed'; readonly index: number; readonly reason: string; readonly record?: Record<string, unknown> };

const OPS: Readonly<Record<DebeziumOp, Op>> = { c: 'upsert', u: 'upsert', r: 'upsert', d: 'delete' };

/**
 * Classifies a parsed request body: one event or an array of events (Debezium Server's batch mode), each with or
 * without the `{schema, payload}` wrapper. A body that is neither an object nor an array yields one malformed item.
 */
export function parseDebeziumBody(body: unknown, selection?: TableSelection): DebeziumItem[] {
  const settled = settleMetadataNumbers(body);
  const events = Array.isArray(settled) ? settled : [settled];
  return events.map((event, index) => parseDebeziumEvent(event, index, selection));
}

/** Classifies one event. */
export function parseDebeziumEvent(event: unknown, index: number, selection?: TableSelection): DebeziumItem {
  // Kafka tombstones (null value) follow deletes for log compaction; there is nothing to apply.
  if (event === null) return { kind: 'skipped', index, reason: 'tombstone' };
  if (!isObject(event)) return { kind: 'malformed', index, reason: `event is ${kindOf(event)}, not a Debezium change event object` };
  let value: Record<string, unknown> = event;
  let schema: unknown;
  if ('payload' in event && ('schema' in event || !('op' in event))) {
    if (event.payload === null) return { kind: 'skipped', index, reason: 'tombstone' };
    if (!isObject(event.payload)) return { kind: 'malformed', index, reason: `payload is ${kindOf(event.payload)}, not an object`, record: safe(event) };
    value = event.payload;
    schema = event.schema;
  }
  const op = value.op;
  if (op === undefined) {
    const other = notAChange(value, schema);
    if (other) return { kind: 'skipped', index, reason: other };
  }
  if (op === 'm') return { kind: 'skipped', index, reason: 'message' };
  const source = isObject(value.source) ? value.source : {};
  const info: DebeziumSourceInfo = {
    connector: str(source.connector),
    db: str(source.db),
    schema: str(source.schema),
    table: str(source.table) ?? str(source.collection),
  };
  const table = qualifiedName(info);
  const ts = sourceTimeOf(value, source);
  const pos = positionOf(source, value.transaction);
  const when = { ...(ts !== undefined ? { ts } : {}), ...(pos !== undefined ? { pos } : {}) };
  if (op === 't') {
    // A truncate of no table names nothing to delete.
    if (!info.table) return { kind: 'malformed', index, reason: 'truncate names no table (source.table)', record: safe(value) };
    if (!tableSelected(info, selection)) return { kind: 'skipped', index, reason: 'table not selected', table };
    return { kind: 'truncate', index, table, ...when };
  }
  if (typeof op !== 'string' || !(op in OPS)) {
    return { kind: 'malformed', index, reason: `op is ${op === undefined ? 'missing' : JSON.stringify(op)}; expected one of c, u, r, d`, record: safe(value) };
  }
  const operation = op as DebeziumOp;
  if (!tableSelected(info, selection)) return { kind: 'skipped', index, reason: 'table not selected', table };

  const rows = info.connector === 'mongodb' || source.collection !== undefined ? mongoRows(value, operation) : sqlRows(value, schema);
  if (typeof rows === 'string') return { kind: 'malformed', index, reason: rows, record: safe(value) };
  const { before, after } = rows;
  const data = operation === 'd' ? before : after;
  if (!data) {
    const field = operation === 'd' ? 'before' : 'after';
    return { kind: 'malformed', index, reason: `op "${operation}" needs ${field} with the row, got ${kindOf(operation === 'd' ? value.before : value.after)}`, record: safe(value) };
  }
  const kept = withoutUnavailable(data);
  return {
    kind: 'change',
    index,
    op: OPS[operation],
    operation,
    data: kept.row,
    ...(before ? { before: withoutUnavailable(before).row } : {}),
    ...when,
    ...(kept.unavailable.length > 0 && operation !== 'd' ? { unavailable: kept.unavailable } : {}),
    ...(rows.partial ? { partial: true as const } : {}),
    table,
  };
}

/**
 * Why a source of a flow cannot take an upsert as it is (the capture and `try` alike): with `onTruncate: "delete"`
 * its table must be one the truncate index can list; and a MongoDB update of some fields without the document, under
 * `lww`, where an upsert replaces the whole record, would drop every field it does not carry.
 */
export function upsertProblem(flow: Pick<FlowConfig, 'id' | 'conflict'>, source: { readonly id: string; readonly onTruncate?: string }, item: DebeziumItem): string | undefined {
  if (item.kind !== 'change' || item.op !== 'upsert') return undefined;
  const unscoped = source.onTruncate === 'delete' ? truncateScopeProblem(flow.id, source.id, item.table) : undefined;
  if (unscoped !== undefined || !item.partial || flow.conflict.strategy !== 'lww') return unscoped;
  return 'MongoDB update of some fields without the full document, which under conflict strategy "lww" would replace the record with those fields alone: set capture.mode to change_streams_update_full, enable pre-images, or use a per-field strategy such as "field-lww"';
}

/** What a value without `op` is, when it is one of Debezium's events that are not row changes. */
function notAChange(value: Record<string, unknown>, schema: unknown): SkipReason | undefined {
  const name = isObject(schema) && typeof schema.name === 'string' ? schema.name : '';
  if (name.endsWith('.Heartbeat')) return 'heartbeat';
  if (name.endsWith('.TransactionMetadataValue') || isTransactionBoundary(value)) return 'transaction boundary';
  if (name.endsWith('.SchemaChangeValue') || 'ddl' in value || 'tableChanges' in value) return 'schema change';
  // A heartbeat without its schema is `{"ts_ms": ...}` alone.
  const keys = Object.keys(value);
  if (keys.length > 0 && keys.every((k) => k === 'ts_ms' || k === 'ts_us' || k === 'ts_ns')) return 'heartbeat';
  return undefined;
}

/**
 * A transaction BEGIN or END event without its schema: `status`, `id` and no field a boundary does not have, so a
 * flattened row with a `status` column of "BEGIN" is not taken for one.
 */
function isTransactionBoundary(value: Record<string, unknown>): boolean {
  if ((value.status !== 'BEGIN' && value.status !== 'END') || typeof value.id !== 'string') return false;
  return Object.keys(value).every((k) => BOUNDARY_FIELDS.has(k));
}
const BOUNDARY_FIELDS = new Set(['status', 'id', 'ts_ms', 'ts_us', 'ts_ns', 'event_count', 'data_collections']);

type Rows = { before?: Record<string, unknown>; after?: Record<string, unknown>; partial?: true };

function sqlRows(value: Record<string, unknown>, schema: unknown): Rows | string {
  const { before, after } = value;
  if (before !== null && before !== undefined && !isObject(before)) return `before is ${kindOf(before)}, not an object`;
  if (after !== null && after !== undefined && !isObject(after)) return `after is ${kindOf(after)}, not an object`;
  const columns = rowSchemaOf(schema);
  return {
    ...(isObject(before) ? { before: decodeRow(before, columns) } : {}),
    ...(isObject(after) ? { after: decodeRow(after, columns) } : {}),
  };
}

/**
 * MongoDB: documents are Extended JSON strings (or objects). An update without the full document (capture.mode
 * `change_streams`) carries `updateDescription` or, from older connectors, `patch` and `filter`; a delete names its
 * document only through the pre-image in `before` (or `filter`).
 */
function mongoRows(value: Record<string, unknown>, operation: DebeziumOp): Rows | string {
  const doc = (field: 'before' | 'after' | 'patch' | 'filter') => {
    const v = value[field];
    if (v === null || v === undefined) return undefined;
    return mongoDocument(v) ?? `${field} is not a MongoDB Extended JSON document`;
  };
  const before = doc('before');
  const after = doc('after');
  const filter = doc('filter');
  for (const d of [before, after, filter]) if (typeof d === 'string') return d;
  const rows: Rows = { ...(before ? { before: before as Record<string, unknown> } : {}), ...(after ? { after: after as Record<string, unknown> } : {}) };
  const id = (filter as Record<string, unknown> | undefined)?._id ?? rows.before?._id;
  if (operation === 'd' && !rows.before) {
    if (id === undefined) return 'MongoDB delete without the document: enable pre-images (capture.mode change_streams_update_full_with_pre_image) so the deleted document is known';
    rows.before = { _id: id };
  }
  if (operation === 'u' && !rows.after) {
    const update = updateOf(value, doc('patch'));
    if (typeof update === 'string') return update;
    if (rows.before) {
      // A pre-image (capture.mode change_streams_with_pre_image): the document after is the update applied to it.
      const applied = applyUpdate(rows.before, update);
      if (typeof applied === 'string') return `MongoDB update cannot be applied to the document before: ${applied}`;
      rows.after = applied;
      return rows;
    }
    if (id === undefined) return 'MongoDB update without the full document or its _id: set capture.mode to change_streams_update_full';
    // Only whole top-level fields can go on without the document; a field inside one would replace all of it.
    if (reachesInside(update)) return 'MongoDB update of fields inside a field (a dotted path or a truncated array) without the full document: set capture.mode to change_streams_update_full, or enable pre-images';
    rows.after = { _id: id, ...update.updatedFields, ...Object.fromEntries(update.removedFields.map((f) => [f, null])) };
    rows.partial = true;
  }
  return rows;
}

/** The update of an event without `after`: its `updateDescription`, or an older connector's `patch` (`$set`/`$unset`). */
function updateOf(value: Record<string, unknown>, patch: Record<string, unknown> | string | undefined): UpdateDescription | string {
  const upd = isObject(value.updateDescription) ? value.updateDescription : undefined;
  if (upd) {
    const set = upd.updatedFields === null || upd.updatedFields === undefined ? {} : mongoDocument(upd.updatedFields);
    if (set === undefined) return 'updateDescription.updatedFields is not a MongoDB Extended JSON document';
    const removed = Array.isArray(upd.removedFields) ? (upd.removedFields as unknown[]).filter((f): f is string => typeof f === 'string') : [];
    const truncated = Array.isArray(upd.truncatedArrays) ? (upd.truncatedArrays as unknown[]) : [];
    const sized = truncated.filter((t): t is { field: string; size: number } => isObject(t) && typeof t.field === 'string' && Number.isSafeInteger(t.size) && (t.size as number) >= 0);
    if (sized.length !== truncated.length) return 'updateDescription.truncatedArrays holds an entry without a field name and a whole size of at least 0';
    return { updatedFields: set, removedFields: removed, truncatedArrays: sized };
  }
  if (typeof patch === 'string' || patch === undefined) return patch ?? 'MongoDB update without after, updateDescription or patch';
  const unset = isObject(patch.$unset) ? Object.keys(patch.$unset) : [];
  return { updatedFields: isObject(patch.$set) ? patch.$set : patch.$unset !== undefined ? {} : patch, removedFields: unset, truncatedArrays: [] };
}

function withoutUnavailable(row: Record<string, unknown>): { row: Record<string, unknown>; unavailable: string[] } {
  const unavailable = Object.keys(row).filter((k) => isUnavailable(row[k]));
  if (unavailable.length === 0) return { row, unavailable };
  const out = { ...row };
  for (const k of unavailable) delete out[k];
  return { row: out, unavailable };
}

/** `db.schema.table` with the parts present, e.g. `postgres.public.customers` or `inventory.customers`; '' without a table. */
export function qualifiedName(info: DebeziumSourceInfo): string {
  if (!info.table) return '';
  return [info.db, info.schema, info.table].filter((p) => p !== undefined && p !== '').join('.');
}

/**
 * Whether a table passes the selection. An entry matches when it equals (with `*` wildcards) any of the
 * table's names: `db.schema.table`, `db.table`, `schema.table` or `table`. So `inventory.customers`
 * selects a MySQL table (or MongoDB collection) and `public.customers` a PostgreSQL one.
 */
export function tableSelected(info: DebeziumSourceInfo, selection?: TableSelection): boolean {
  if (!selection) return true;
  const names = candidateNames(info);
  const matches = (entries: readonly string[]) => entries.some((e) => { const re = wildcard(e); return names.some((n) => re.test(n)); });
  if (selection.include && selection.include.length > 0 && !matches(selection.include)) return false;
  return !(selection.exclude && matches(selection.exclude));
}

function candidateNames({ db, schema, table }: DebeziumSourceInfo): string[] {
  if (!table) return [];
  const out = new Set<string>([table]);
  if (db) out.add(`${db}.${table}`);
  if (schema) out.add(`${schema}.${table}`);
  if (db && schema) out.add(`${db}.${schema}.${table}`);
  return [...out];
}

const wildcardCache = new Map<string, RegExp>();
function wildcard(entry: string): RegExp {
  let re = wildcardCache.get(entry);
  if (!re) {
    re = new RegExp(`^${entry.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    wildcardCache.set(entry, re);
  }
  return re;
}

/**
 * A parsed body (numbers beyond a double as InexactNumber) with every such number outside the rows (`before`,
 * `after`) turned into the nearest double: metadata such as `source.ts_ns` rounds harmlessly, while a row value
 * keeps its digits, to be decoded by its logical type or quarantined.
 */
function settleMetadataNumbers(body: unknown): unknown {
  const event = (e: unknown): unknown => {
    if (!isObject(e) || e instanceof InexactNumber) return settleNumbers(e);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      const settled = k === 'before' || k === 'after' ? v : k === 'payload' ? event(v) : settleNumbers(v);
      Object.defineProperty(out, k, { value: settled, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return Array.isArray(body) ? body.map(event) : event(body);
}

/** The event as quarantine keeps it: numbers JSON could not carry exactly (`ts_ns`, ~1.5e18) as their digits. */
function safe(value: Record<string, unknown>): Record<string, unknown> {
  const walk = (v: unknown): unknown => {
    if (v instanceof InexactNumber) return v.text;
    if (typeof v === 'number') return Number.isInteger(v) && !Number.isSafeInteger(v) ? BigInt(v).toString() : v;
    if (Array.isArray(v)) return v.map(walk);
    if (isObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: walk(x), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  };
  return walk(value) as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const kindOf = (v: unknown): string => (v === null ? 'null' : v === undefined ? 'missing' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

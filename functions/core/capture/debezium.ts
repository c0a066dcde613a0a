/**
 * Debezium change events (JSON converter output), pure: unwraps `{schema, payload}`, maps `op` to upsert/delete,
 * selects tables, and derives `ts` and a sortable `seq` from the connector's source position.
 */
import type { Op } from '../envelope';

/** Debezium-style table selection: entries such as `inventory.customers`, `public.*`; `*` matches any run of characters. */
export interface TableSelection {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/** The `source` block fields syncline reads. */
export interface DebeziumSourceInfo {
  readonly connector?: string;
  readonly db?: string;
  readonly schema?: string;
  readonly table?: string;
}

export type DebeziumOp = 'c' | 'u' | 'r' | 'd';

/** One element of a Debezium request body, classified. `index` is its position in the body (0 for a single event). */
export type DebeziumItem =
  | {
      readonly kind: 'change';
      readonly index: number;
      readonly op: Op;
      /** The Debezium operation: `r` is a snapshot read. */
      readonly operation: DebeziumOp;
      /** `after` for c/u/r, `before` for d (it carries the key columns). */
      readonly data: Record<string, unknown>;
      readonly before?: Record<string, unknown>;
      /** `source.ts_ms`, else the envelope's `ts_ms`; undefined when neither is a number. */
      readonly ts?: number;
      /** LSN, binlog position or SCN, zero-padded so string order is position order; undefined when absent. */
      readonly seq?: string;
      /** `db.schema.table` with the parts that are present. */
      readonly table: string;
    }
  | { readonly kind: 'skipped'; readonly index: number; readonly reason: 'tombstone' | 'table not selected'; readonly table?: string }
  | { readonly kind: 'malformed'; readonly index: number; readonly reason: string; readonly record?: Record<string, unknown> };

const OPS: Readonly<Record<DebeziumOp, Op>> = { c: 'upsert', u: 'upsert', r: 'upsert', d: 'delete' };

/**
 * Classifies a parsed request body: one event or an array of events, each with or without the
 * `{schema, payload}` wrapper. A body that is neither an object nor an array yields one malformed item.
 */
export function parseDebeziumBody(body: unknown, selection?: TableSelection): DebeziumItem[] {
  const events = Array.isArray(body) ? body : [body];
  return events.map((event, index) => parseDebeziumEvent(event, index, selection));
}

/** Classifies one change event. */
export function parseDebeziumEvent(event: unknown, index: number, selection?: TableSelection): DebeziumItem {
  // Kafka tombstones (null value) follow deletes for log compaction; there is nothing to apply.
  if (event === null) return { kind: 'skipped', index, reason: 'tombstone' };
  if (!isObject(event)) return { kind: 'malformed', index, reason: `event is ${kindOf(event)}, not a Debezium change event object` };
  let value: Record<string, unknown> = event;
  if ('payload' in event && ('schema' in event || !('op' in event))) {
    if (event.payload === null) return { kind: 'skipped', index, reason: 'tombstone' };
    if (!isObject(event.payload)) return { kind: 'malformed', index, reason: `payload is ${kindOf(event.payload)}, not an object`, record: event };
    value = event.payload;
  }
  const op = value.op;
  if (op === 't') return { kind: 'malformed', index, reason: 'truncate events (op "t") cannot be applied per record', record: value };
  if (typeof op !== 'string' || !(op in OPS)) {
    return { kind: 'malformed', index, reason: `op is ${op === undefined ? 'missing' : JSON.stringify(op)}; expected one of c, u, r, d`, record: value };
  }
  const operation = op as DebeziumOp;
  const source = isObject(value.source) ? value.source : {};
  const info: DebeziumSourceInfo = {
    connector: str(source.connector),
    db: str(source.db),
    schema: str(source.schema),
    table: str(source.table),
  };
  const table = qualifiedName(info);
  if (!tableSelected(info, selection)) return { kind: 'skipped', index, reason: 'table not selected', table };

  const before = value.before;
  const after = value.after;
  if (before !== null && before !== undefined && !isObject(before)) return { kind: 'malformed', index, reason: `before is ${kindOf(before)}, not an object`, record: value };
  if (after !== null && after !== undefined && !isObject(after)) return { kind: 'malformed', index, reason: `after is ${kindOf(after)}, not an object`, record: value };
  const data = operation === 'd' ? before : after;
  if (!isObject(data)) {
    const field = operation === 'd' ? 'before' : 'after';
    return { kind: 'malformed', index, reason: `op "${operation}" needs ${field} with the row, got ${kindOf(data)}`, record: value };
  }
  const tsValue = typeof source.ts_ms === 'number' ? source.ts_ms : value.ts_ms;
  const ts = typeof tsValue === 'number' && Number.isFinite(tsValue) && tsValue >= 0 ? tsValue : undefined;
  return {
    kind: 'change',
    index,
    op: OPS[operation],
    operation,
    data,
    ...(isObject(before) ? { before } : {}),
    ...(ts !== undefined ? { ts } : {}),
    ...(positionOf(source) !== undefined ? { seq: positionOf(source) } : {}),
    table,
  };
}

/** `db.schema.table` with the parts present, e.g. `postgres.public.customers` or `inventory.customers`. */
export function qualifiedName(info: DebeziumSourceInfo): string {
  return [info.db, info.schema, info.table].filter((p) => p !== undefined && p !== '').join('.');
}

/**
 * Whether a table passes the selection. An entry matches when it equals (with `*` wildcards) any of the
 * table's names: `db.schema.table`, `db.table`, `schema.table` or `table`. So `inventory.customers`
 * selects a MySQL table and `public.customers` a PostgreSQL one.
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

const SEQ_WIDTH = 20;

/**
 * The event's position in the database log, zero-padded so that string order is log order:
 * PostgreSQL `lsn:<lsn>`, MySQL `binlog:<file index>:<pos>:<row>`, Oracle `scn:<scn>`.
 */
export function positionOf(source: Record<string, unknown>): string | undefined {
  const lsn = digits(source.lsn);
  if (lsn !== undefined) return `lsn:${lsn.padStart(SEQ_WIDTH, '0')}`;
  const pos = digits(source.pos);
  if (typeof source.file === 'string' && source.file !== '' && pos !== undefined) {
    // mysql-bin.000003: the numeric suffix orders the files; it widens past 999999, so it is padded too.
    const m = /^(.*?)(\d+)$/.exec(source.file);
    const file = m ? `${m[1]}${m[2]!.padStart(10, '0')}` : source.file;
    const row = digits(source.row) ?? '0';
    return `binlog:${file}:${pos.padStart(SEQ_WIDTH, '0')}:${row.padStart(6, '0')}`;
  }
  const scn = digits(source.scn);
  if (scn !== undefined) return `scn:${scn.padStart(SEQ_WIDTH, '0')}`;
  return undefined;
}

function digits(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return v.replace(/^0+(?=\d)/, '');
  return undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const kindOf = (v: unknown): string => (v === null ? 'null' : v === undefined ? 'missing' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

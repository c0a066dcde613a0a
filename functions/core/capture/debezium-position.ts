/**
 * A Debezium event's place in its database log, and its most precise source time. Positions are strings whose
 * order (plain string comparison) is log order within one connector, so the merge can compare them without
 * knowing the connector. Fields per connector, from the `source` blocks documented on
 * https://debezium.io/documentation/reference/stable/connectors/{postgresql,mysql,sqlserver,oracle,mongodb}.html
 */
import { MAX_TIME_MS } from '../envelope';

const WIDTH = 20;

/** A non-negative integer as digits: numbers up to 2^53, digit strings and bigints of any length. */
export function digitsOf(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'bigint' && v >= 0n) return v.toString();
  if (typeof v === 'string' && /^\d+$/.test(v)) return v.replace(/^0+(?=\d)/, '');
  return undefined;
}

const pad = (digits: string, width = WIDTH) => digits.padStart(width, '0');

/**
 * PostgreSQL: `sequence` is `["<last committed LSN>", "<LSN>"]`: the first orders transactions by commit, the second
 * the changes within one; without it, `lsn` alone. The last committed LSN is null in the snapshot and in the first
 * transaction streamed after it (PostgresOffsetContext.initialContext). A streamed change committed after the
 * snapshot even when it was written before the slot's start, so there its own LSN stands in: it orders above every
 * snapshot read, and below the transactions after it (whose last commit is at least its LSN).
 */
function postgresPosition(source: Record<string, unknown>): string | undefined {
  const lsn = digitsOf(source.lsn);
  if (lsn === undefined) return undefined;
  let committed: string | undefined;
  if (typeof source.sequence === 'string') {
    try {
      const seq: unknown = JSON.parse(source.sequence);
      if (Array.isArray(seq)) committed = digitsOf(seq[0]);
    } catch {
      // An unreadable sequence leaves the LSN alone to order the change.
    }
  }
  const streamed = source.snapshot === undefined || source.snapshot === null || source.snapshot === false || source.snapshot === 'false';
  return `pg:${pad(committed ?? (streamed && typeof source.sequence === 'string' ? lsn : '0'))}:${pad(lsn)}`;
}

/** MySQL and MariaDB: binlog file (its numeric suffix grows past six digits), position in it, row within the event. */
function binlogPosition(source: Record<string, unknown>): string | undefined {
  const pos = digitsOf(source.pos);
  if (typeof source.file !== 'string' || source.file === '' || pos === undefined) return undefined;
  const m = /^(.*?)(\d+)$/.exec(source.file);
  const file = m ? `${m[1]}${pad(m[2]!, 10)}` : source.file;
  return `binlog:${file}:${pad(pos)}:${pad(digitsOf(source.row) ?? '0', 6)}`;
}

/** SQL Server LSN `0000002a:00000730:0003` (hex parts); a snapshot read has no `change_lsn`. */
function sqlServerLsn(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const parts = v.toLowerCase().split(':');
  if (parts.length !== 3 || !parts.every((p) => /^[0-9a-f]+$/.test(p))) return undefined;
  return parts.map((p, i) => p.padStart(i === 2 ? 4 : 8, '0')).join(':');
}

function sqlServerPosition(source: Record<string, unknown>): string | undefined {
  const commit = sqlServerLsn(source.commit_lsn);
  const change = sqlServerLsn(source.change_lsn);
  if (commit === undefined && change === undefined) return undefined;
  const zero = '00000000:00000000:0000';
  return `mssql:${commit ?? change}:${change ?? zero}:${pad(digitsOf(source.event_serial_no) ?? '0', 10)}`;
}

/**
 * Oracle: transactions by `commit_scn` (a snapshot read has only `scn`, the snapshot's), changes within one by `scn`,
 * then by the event's place in its transaction (`total_order`) and `ssn`: changes of one transaction often share
 * an SCN.
 */
function oraclePosition(source: Record<string, unknown>, order: string): string | undefined {
  const scn = digitsOf(source.scn);
  if (scn === undefined) return undefined;
  const commit = digitsOf(source.commit_scn) ?? scn;
  return `scn:${pad(commit)}:${pad(scn)}:${order}:${pad(digitsOf(source.ssn) ?? '0', 10)}`;
}

/**
 * MongoDB: the oplog time (`ts_ms`, whole seconds) and `ord`, the event's order within that second. Every change of
 * one transaction has the transaction's time and `ord`; `total_order` orders them.
 */
function mongoPosition(source: Record<string, unknown>, order: string): string | undefined {
  const ms = digitsOf(source.ts_ms);
  const ord = digitsOf(source.ord);
  if (ms === undefined || ord === undefined) return undefined;
  return `mongo:${pad(ms)}:${pad(ord, 10)}:${order}`;
}

/**
 * The connector's log position, or undefined when the `source` block has none syncline knows. `transaction` is the
 * event's transaction metadata (`provide.transaction.metadata=true`), where `total_order` places it in its transaction.
 * A position of an earlier release has no such suffix: it orders below this release's at the same place, as a tie did.
 */
export function positionOf(source: Record<string, unknown>, transaction?: unknown): string | undefined {
  const total = transaction !== null && typeof transaction === 'object' ? digitsOf((transaction as Record<string, unknown>).total_order) : undefined;
  const order = pad(total ?? '0', 10);
  switch (source.connector) {
    case 'postgresql':
      return postgresPosition(source);
    case 'mysql':
    case 'mariadb':
      return binlogPosition(source);
    case 'sqlserver':
      return sqlServerPosition(source);
    case 'oracle':
      return oraclePosition(source, order);
    case 'mongodb':
      return mongoPosition(source, order);
    default:
      // No or another connector name: recognise the fields.
      return (
        sqlServerPosition(source) ??
        (source.ord !== undefined ? mongoPosition(source, order) : undefined) ??
        binlogPosition(source) ??
        (source.lsn !== undefined ? postgresPosition(source) : undefined) ??
        oraclePosition(source, order)
      );
  }
}

/**
 * Epoch ms from `ts_ns`, `ts_us` or `ts_ms` of one block, the most precise that holds a time first; fractions of a
 * ms are kept.
 */
function timeOf(block: Record<string, unknown>): number | undefined {
  const ns = digitsOf(block.ts_ns) ?? approx(block.ts_ns);
  const us = digitsOf(block.ts_us) ?? approx(block.ts_us);
  // The connector docs show ts_ms as a number, and also as a string (Oracle's transaction metadata example).
  const ms = typeof block.ts_ms === 'string' && /^\d{1,16}$/.test(block.ts_ms) ? Number(block.ts_ms) : block.ts_ms;
  for (const t of [ns === undefined ? undefined : msFrom(ns, 6), us === undefined ? undefined : msFrom(us, 3), typeof ms === 'number' ? ms : undefined]) {
    if (t !== undefined && Number.isFinite(t) && t >= 0 && t <= MAX_TIME_MS) return t;
  }
  return undefined;
}

/** A number JSON.parse rounded (beyond 2^53): exact to far below a millisecond, so still a good time. */
function approx(v: unknown): string | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? BigInt(Math.round(v)).toString() : undefined;
}

/** `digits` / 10^shift as a number of ms, computed on the digits so 19-digit nanoseconds lose nothing above the ns. */
function msFrom(digits: string, shift: number): number {
  const whole = digits.length > shift ? digits.slice(0, -shift) : '0';
  const frac = digits.padStart(shift, '0').slice(-shift);
  return Number(`${whole}.${frac}`);
}

/**
 * The change's time in ms since epoch: the source's (when the database made the change), else the envelope's (when
 * the connector processed it); undefined when neither has one.
 */
export function sourceTimeOf(value: Record<string, unknown>, source: Record<string, unknown>): number | undefined {
  return timeOf(source) ?? timeOf(value);
}

import type { FlowConfig, SourceConfig } from '../../config/schema';
import { contentHash, eventId, getPath, keyOf, MAX_TIME_MS } from '../envelope';
import { carryProblems } from '../json-safety';
import { rawKeyPaths, renamedFrom } from '../transform/raw-record';

export type ScheduleSource = Extract<SourceConfig, { type: 'schedule' }>;

/** A pulled record ready to become an envelope. */
export interface PreparedRecord {
  readonly ok: true;
  readonly record: Record<string, unknown>;
  readonly key: string;
  readonly keyData: Record<string, unknown>;
  readonly hash: string;
  /** Deterministic: re-pulling an unchanged record yields the same id. */
  readonly id: string;
  readonly ts: number;
  readonly seq: string;
  /** Raw cursor value (incremental mode, or whenever cursorField is set and present). */
  readonly cursor?: string;
  /** Cursor as a comparable number (ms) when it is a time or number. */
  readonly cursorMs?: number;
}

export interface RejectedRecord {
  readonly ok: false;
  readonly reason: string;
  readonly record?: Record<string, unknown>;
  /** The key when it could be read: the record still counts as present (no delete is inferred for it). */
  readonly key?: string;
}

/**
 * Raw fields that identify a pulled record: the source's `keyFields`, else where the key fields sit before the
 * transform (rawKeyPaths, nested renames included), else the flow key with renames (of it or its object) mapped back.
 */
export function pullKeyFields(flow: FlowConfig, source: ScheduleSource): readonly string[] {
  if (source.keyFields?.length) return source.keyFields;
  const raw = rawKeyPaths(flow);
  if (raw) return raw;
  // The key itself is made by the transform (a mask, say): read it where a rename of it, or of its object, takes it from.
  return flow.key.map((k) => renamedFrom(flow.transform.rename, k) ?? k);
}

/** A cursor value as ms (ISO-8601 time, epoch ms number or digit string); a string otherwise; an error for other types. */
export function cursorValue(value: unknown, field: string): { raw: string; ms?: number } | { error: string } | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  // A number past the latest time a Date holds is a cursor but no time: the record takes the pull's.
  const time = (raw: string, ms: number) => (ms >= 0 && ms <= MAX_TIME_MS ? { raw, ms } : { raw });
  if (typeof value === 'number') {
    return Number.isFinite(value) ? time(String(value), value) : { error: `cursorField "${field}" is not a finite number` };
  }
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return time(value, Number(value));
    const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isFinite(ms)) return { raw: value, ms };
    return { error: `cursorField "${field}" is not an ISO-8601 time or epoch ms` };
  }
  return { error: `cursorField "${field}" is ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not an ISO-8601 time or epoch ms` };
}

/** Orders two cursor values: by ms when both parse, else as strings. */
export function compareCursor(a: string, b: string): number {
  // Digits by their value, exactly (a sequence or a nanosecond epoch may be far beyond a double's integers).
  if (DIGITS.test(a) && DIGITS.test(b)) {
    const [x, y] = [a.replace(/^0+(?=\d)/, ''), b.replace(/^0+(?=\d)/, '')];
    return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
  }
  const am = parseMs(a);
  const bm = parseMs(b);
  if (am !== undefined && bm !== undefined) return am - bm;
  return a < b ? -1 : a > b ? 1 : 0;
}

const DIGITS = /^\d+$/;

/** A raw cursor value (epoch ms digits up to the latest date, or ISO-8601) as ms; undefined when it is neither. */
export function parseMs(v: string): number | undefined {
  if (DIGITS.test(v)) {
    const n = Number(v);
    return n <= MAX_TIME_MS ? n : undefined;
  }
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Turns one raw item into a record with key, hash, id, ts and seq, or a reason to quarantine it.
 * ts = the cursor field's time when present, else the pull's start time; seq = the cursor value, else the position.
 */
export function prepareRecord(
  flow: FlowConfig,
  source: ScheduleSource,
  keyFields: readonly string[],
  raw: unknown,
  position: string,
  pullStartedAt: number,
): PreparedRecord | RejectedRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, reason: `item is ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : `a ${typeof raw}`}, not an object` };
  }
  const record = raw as Record<string, unknown>;
  const key = keyOf(record, keyFields);
  if (key === undefined) {
    const missing = keyFields.filter((f) => {
      const v = getPath(record, f);
      return v === undefined || v === null || v === '';
    });
    const reason = missing.length
      ? `missing key field${missing.length > 1 ? 's' : ''} ${missing.map((f) => `"${f}"`).join(', ')}`
      : `key field${keyFields.length > 1 ? 's' : ''} ${keyFields.map((f) => `"${f}"`).join(', ')} must be a string, number or boolean`;
    return { ok: false, reason, record };
  }
  // As every capture does: a number a double cannot hold (the cursor's too), and what DynamoDB cannot store, quarantine the record.
  const unstorable = carryProblems(record, 1);
  if (unstorable.length > 0) return { ok: false, reason: `record cannot be carried exactly: ${unstorable[0]}`, record, key };
  let cursor: { raw: string; ms?: number } | undefined;
  if (source.cursorField) {
    const c = cursorValue(getPath(record, source.cursorField), source.cursorField);
    if (c && 'error' in c) return { ok: false, reason: c.error, record, key };
    if (!c && source.mode === 'incremental') return { ok: false, reason: `cursorField "${source.cursorField}" is missing`, record, key };
    cursor = c;
  }
  const keyData: Record<string, unknown> = {};
  for (const f of keyFields) setPath(keyData, f, getPath(record, f));
  // The pull's own state keeps the key fields (to infer deletes): one DynamoDB cannot store is the record's fault.
  const keyProblems = carryProblems(keyData, 1);
  if (keyProblems.length > 0) return { ok: false, reason: `record cannot be carried exactly: ${keyProblems[0]}`, record, key };
  const hash = contentHash(record);
  return {
    ok: true,
    record,
    key,
    keyData,
    hash,
    id: eventId(flow.id, source.id, key, hash),
    ts: cursor?.ms ?? pullStartedAt,
    seq: cursor?.raw ?? position,
    cursor: cursor?.raw,
    cursorMs: cursor?.ms,
  };
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = target;
  for (const p of parts.slice(0, -1)) {
    if (!cur[p] || typeof cur[p] !== 'object') cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

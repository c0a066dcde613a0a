import * as crypto from 'node:crypto';
import { InexactNumber } from './json-safety';

const { createHash } = crypto;

export type Op = 'upsert' | 'delete';
export type StepName = 'capture' | 'transform' | 'resolve' | 'deliver';

/** One step an envelope passed, in order. */
export interface LineageStep {
  readonly step: StepName;
  readonly at: number;
  readonly outcome: string;
}

/** Marker carried by a change that syncline itself delivered to a system that is also a source. */
export interface OriginMarker {
  readonly flow: string;
  readonly target: string;
  readonly version: number;
  readonly hash: string;
  /** contentHash of the item exactly as written (without the marker): differs from the item's content once someone else edits it. */
  readonly item?: string;
  /** Clock of the change that produced the delivered version. */
  readonly ts: number;
  /** Tie-breakers of that change (absent in markers written before they were recorded). */
  readonly seq?: string;
  readonly id?: string;
}

/** What travels between steps. */
export interface ChangeEnvelope {
  readonly v: 1;
  /** Deterministic event id: the same source event always yields the same id. */
  readonly id: string;
  readonly flow: string;
  readonly source: string;
  /** Key fields' values in order joined by '#'. Empty until the transform step has derived it. */
  readonly key: string;
  readonly op: Op;
  /** Record after the change. On a delete it is present only before transform, to derive the key. */
  readonly data?: Record<string, unknown>;
  readonly before?: Record<string, unknown>;
  /** Source timestamp in ms since epoch; capture time only when the source has none. */
  readonly ts: number;
  /** Tie-breaker from the source: stream sequence number, row cursor, arrival ({@link arrivalSeq}). */
  readonly seq: string;
  /**
   * Position in the source's own log (database LSN, binlog position, SCN, stream sequence number), as a string whose
   * order is log order: orders two changes of the same source before `ts`.
   */
  readonly pos?: string;
  /** Source table of a change from a source with `onTruncate: "delete"`: the state indexes the key under it. */
  readonly tbl?: string;
  /** Fields the source did not send (their value was unavailable to it): the change leaves them as they are. */
  readonly keep?: readonly string[];
  readonly lineage: readonly LineageStep[];
  readonly origin?: OriginMarker;
  /** Field names (never values) of the transformed record that look like PII and are not masked (`detectPii: "flag"`). */
  readonly piiFlagged?: readonly string[];
}

/** The latest time a Date holds, in ms: a change's `ts` is at most this, or it would win every merge and no date could show it. */
export const MAX_TIME_MS = 8.64e15;

export const ENVELOPE_VERSION = 1 as const;

/**
 * A truncate of a source table whose source has `onTruncate: "delete"`. It travels capture → transform (untouched)
 * → resolve, where each receive turns one page of the table's keys into delete envelopes and re-queues itself with
 * `cursor` until the index is exhausted.
 */
export interface TruncateMessage {
  readonly v: 1;
  readonly kind: 'truncate';
  readonly id: string;
  readonly flow: string;
  readonly source: string;
  readonly table: string;
  /** The truncate's clock and log position: every delete carries them, so changes after the truncate win. */
  readonly ts: number;
  readonly seq: string;
  readonly pos?: string;
  readonly at: number;
  readonly cursor?: string;
}

/** Scope under which the state indexes keys of one source table (see StoredState.truncateScope). */
export const truncateScope = (flow: string, source: string, table: string): string => `${flow}#${source}#${table}`;

/** Longest truncate scope (UTF-8 bytes): the state's truncate index is partitioned on it, and DynamoDB caps an index partition key at 2048. */
export const MAX_TRUNCATE_SCOPE_BYTES = 2048;

/** Why the keys of a source table cannot be indexed for onTruncate "delete" (no table, or a name the index cannot take), or undefined. */
export function truncateScopeProblem(flow: string, source: string, table: string): string | undefined {
  if (table === '') return 'the event names no table (source.table), which onTruncate "delete" needs';
  const bytes = Buffer.byteLength(truncateScope(flow, source, table), 'utf8');
  const longest = MAX_TRUNCATE_SCOPE_BYTES - bytes + Buffer.byteLength(table, 'utf8');
  if (bytes > MAX_TRUNCATE_SCOPE_BYTES) return `table name is ${Buffer.byteLength(table, 'utf8')} bytes; the longest that onTruncate "delete" indexes for source "${source}" is ${longest} bytes`;
  if (LONE_SURROGATE.test(table)) return 'table name holds a lone UTF-16 surrogate, which DynamoDB cannot carry exactly';
  return undefined;
}

/** Deterministic id from the parts that identify a source event. */
export function eventId(...parts: readonly (string | number)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(String(p)).update('\u0000');
  return h.digest('base64url').slice(0, 32);
}

/**
 * The `seq` of a change from a sender that orders nothing finer than its timestamp (a webhook, a queue): GitHub and
 * Stripe stamp whole seconds. At one `ts`, a delete wins (a SaaS record is not changed once deleted, so a change in
 * its second came first, whatever the order it arrives in), then the later arrival (`arrivedAt`, ms), then the id.
 */
export function arrivalSeq(op: Op, arrivedAt: number, id: string): string {
  return `${op === 'delete' ? 1 : 0}${String(Math.max(0, Math.trunc(arrivedAt))).padStart(15, '0')}#${id}`;
}

/** Builds a key string from a record's key fields; undefined when a key field is missing or not scalar. */
export function keyOf(record: Record<string, unknown>, fields: readonly string[]): string | undefined {
  const parts: string[] = [];
  for (const f of fields) {
    const value = getPath(record, f);
    // Digits a double cannot hold are still a key (the record itself is refused for them).
    if (value instanceof InexactNumber) {
      parts.push(value.text);
      continue;
    }
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    parts.push(String(value));
  }
  return parts.join('#');
}

/**
 * Why a key of several fields would be ambiguous, or undefined: a value holding `#`, which joins the fields, makes
 * `a#b` + `c` and `a` + `b#c` the same key, so two records would share one state.
 */
export function keyJoinProblem(key: string, record: Record<string, unknown>, fields: readonly string[]): string | undefined {
  if (fields.length < 2 || key.split('#').length === fields.length) return undefined;
  const field = fields.find((f) => String(getPath(record, f)).includes('#'));
  return `key field "${field}" holds "#", which joins the key fields, so the key would name other records too: replace it in the transform`;
}

/**
 * Longest `<flow>#<key>` (UTF-8 bytes) syncline carries: the state table's truncate index sorts on it, and DynamoDB
 * caps an index sort key at 1024 bytes (partition keys, where the key sits elsewhere, at 2048).
 */
export const MAX_KEY_BYTES = 1024;

/** Longest key (UTF-8 bytes) a flow carries: 1024 less its id and the `#` after it. */
export const maxKeyBytes = (flowId: string): number => MAX_KEY_BYTES - Buffer.byteLength(flowId, 'utf8') - 1;

/** A UTF-16 surrogate without its pair: UTF-8 (DynamoDB keys, URLs) has no form for it, so two such keys could become one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Audit keys syncline keeps for itself beside records' keys (`<flow>#~window#<hour>` windows, `~pull/<source>` runs). */
export const AUDIT_WINDOW_KEY_PREFIX = '~window#';
export const PULL_AUDIT_KEY_PREFIX = '~pull/';

/** Why a key cannot be carried, or undefined when it can. */
export function keyProblem(key: string, flowId: string): string | undefined {
  const bytes = Buffer.byteLength(key, 'utf8');
  const max = maxKeyBytes(flowId);
  if (bytes > max) return `key is ${bytes} bytes; the longest key flow "${flowId}" carries is ${max} bytes (1024 with the flow id and "#")`;
  if (LONE_SURROGATE.test(key)) return 'key holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which DynamoDB and URLs cannot carry exactly';
  // URL paths resolve `.` and `..` (also as %2E), so GET /flows/{flow}/records/{key} could never name such a record.
  if (key === '.' || key === '..') return `key "${key}" cannot be named in a URL path`;
  return undefined;
}

/** Why a record may not have this key: its audit entries would mix with syncline's own, or undefined. */
export function reservedKeyProblem(key: string): string | undefined {
  const prefix = [AUDIT_WINDOW_KEY_PREFIX, PULL_AUDIT_KEY_PREFIX].find((p) => key.startsWith(p));
  return prefix && `key starts with "${prefix}", which syncline's audit trail keeps for its own entries`;
}

/** Reads a dotted path (`address.city`) from a record. */
export function getPath(record: unknown, path: string): unknown {
  let cur: unknown = record;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function withStep(env: ChangeEnvelope, step: StepName, outcome: string, at: number): ChangeEnvelope {
  return { ...env, lineage: [...env.lineage, { step, at, outcome }] };
}

/** Canonical JSON: object keys sorted, so equal records serialize and hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/**
 * The copy canonical JSON serializes: arrays mapped, object keys in sorted order, undefined values left out. `order`
 * sorts an object's keys; a caller may pass one that remembers the orders of shapes it sees often.
 */
export function sortKeys(value: unknown, order: (keys: string[]) => readonly string[] = byName): unknown {
  if (Array.isArray(value)) return value.map((v) => sortKeys(v, order));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of order(Object.keys(value))) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v, order);
    }
    return out;
  }
  return value;
}

const byName = (keys: string[]): string[] => keys.sort();

/** SHA-256 in base64url: one-shot `crypto.hash` (Node 20.12+) costs about half a Hash object for a record. */
export const sha256: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'base64url') : (text) => createHash('sha256').update(text).digest('base64url');

/** Content hash of a record (null for a deleted record). */
export function contentHash(data: Record<string, unknown> | null | undefined): string {
  return sha256(data ? canonicalJson(data) : 'null').slice(0, 22);
}

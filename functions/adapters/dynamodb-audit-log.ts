import { randomInt } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { queryAll } from './dynamodb-query';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PartialWriteError, type AuditEntry, type AuditLog, type AuditWindow, type LogPort } from '../ports';
import { AUDIT_TIME_INDEX } from '../plan/store-tables';
import { AUDIT_WINDOW_KEY_PREFIX } from '../core/envelope';
import { batchPutAll } from './dynamodb-batch-write';
import { resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface DynamoDbAuditLogOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Days an entry is kept (TTL), per flow or for all. @default 90 */
  readonly retentionDays?: number | ((flow: string) => number);
  readonly retry?: RetryOptions;
  /** Where each written entry is also logged as one `decision` line (see {@link decisionLogFields}). */
  readonly decisions?: LogPort;
}

/**
 * The fields of a `decision` log line, the ones the saved Logs Insights queries read: key, step, outcome, reason,
 * eventId, source, target and version. Never record values: an audit entry's `detail` stays out.
 */
export function decisionLogFields(e: AuditEntry): Record<string, unknown> {
  return {
    key: e.key,
    step: e.step,
    outcome: e.outcome,
    eventId: e.eventId,
    source: e.source,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
    ...(e.version !== undefined ? { version: e.version } : {}),
  };
}

/** Entries of one window item at most: a few KB once deflated, far below the 400 KB an item may hold. */
const WINDOW_ENTRIES = 400;
/** How long before the earliest entry of a window its `at` may lie: entries of one write span one invocation. */
const WINDOW_SPAN_MS = 15 * 60_000;

const hourOf = (at: number) => new Date(at).toISOString().slice(0, 13);
/** Partition key of a flow's window items of one hour (`YYYY-MM-DDTHH`). */
export const windowPk = (flow: string, hour: string) => `${flow}#${AUDIT_WINDOW_KEY_PREFIX}${hour}`;

/**
 * AuditLog on the audit table, two kinds of item:
 * - per entry, for lineage: pk `${flow}#${key}`, sk `${iso at}#${eventId}#${step}#${outcome}` (plus `#${target}`
 *   for deliveries), `at` (number, ms), `expiresAt` (epoch seconds) for TTL, and the entry's fields;
 * - per write and hour, for status and replay: pk `${flow}#~window#YYYY-MM-DDTHH`, sk `${iso at}#<random>`, `at`
 *   (its earliest entry) and `z`, the hour's entries of that write (without their event ids) as deflated JSON: a
 *   batch of 100 entries takes about 0.6 KB, one write unit. A flow's hour is one partition, read with one Query
 *   per hour; these items stay out of the `byFlowTime` index, which an index copy would bill twice. Entry and
 *   window items of earlier releases carry `flowHour` and are read through that index too.
 */
export class DynamoDbAuditLog implements AuditLog, AuditWindow {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retentionDays: (flow: string) => number;
  private readonly retry: ResolvedRetry;
  private readonly decisions: LogPort | undefined;

  constructor(options: DynamoDbAuditLogOptions) {
    this.decisions = options.decisions;
    this.client = options.client;
    this.tableName = options.tableName;
    const days = options.retentionDays ?? 90;
    this.retentionDays = typeof days === 'function' ? days : () => days;
    this.retry = resolveRetry(options.retry);
  }

  async write(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const windows = this.windows(entries);
    // Entries that lineage finds elsewhere (a state item, a decision entry) are only counted in the windows.
    const own = entries.flatMap((e, i) => (e.heldBy ? [] : [i]));
    const items = [...own.map((i) => this.toItem(entries[i]!)), ...windows.map((w) => w.item)];
    try {
      await batchPutAll(this.client, this.tableName, items, this.retry, (i) => `${i.pk}\u0000${i.sk}`);
    } catch (err) {
      if (!(err instanceof PartialWriteError)) throw err;
      // A refused window fails the entries it holds, so their records are retried and counted once written.
      const failed = new Set(err.failed.flatMap((i) => (i < own.length ? [own[i]!] : windows[i - own.length]!.positions)));
      throw new PartialWriteError([...failed].sort((a, b) => a - b), err.reasons);
    }
    for (const e of entries) this.decisions?.info('decision', decisionLogFields(e));
  }

  async archive(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await batchPutAll(this.client, this.tableName, entries.map((e) => this.toItem(e)), this.retry, (i) => `${i.pk}\u0000${i.sk}`);
  }

  /** The entries of one write by flow and hour, in items of at most WINDOW_ENTRIES entries. */
  private windows(entries: readonly AuditEntry[]): { item: Record<string, unknown>; positions: number[] }[] {
    const byHour = new Map<string, number[]>();
    entries.forEach((e, i) => {
      const pk = windowPk(e.flow, hourOf(e.at));
      const positions = byHour.get(pk);
      if (positions) positions.push(i);
      else byHour.set(pk, [i]);
    });
    const out: { item: Record<string, unknown>; positions: number[] }[] = [];
    for (const [pk, all] of byHour) {
      for (let start = 0; start < all.length; start += WINDOW_ENTRIES) {
        const positions = all.slice(start, start + WINDOW_ENTRIES);
        const part = positions.map((i) => entries[i]!);
        const at = Math.min(...part.map((e) => e.at));
        out.push({
          positions,
          item: {
            pk,
            sk: `${new Date(at).toISOString()}#${randomInt(2 ** 47).toString(36)}`,
            at,
            expiresAt: Math.floor(at / 1000) + this.retentionDays(part[0]!.flow) * 86_400,
            z: deflateRawSync(Buffer.from(JSON.stringify(part.map(windowEntry)), 'utf8')),
          },
        });
      }
    }
    return out;
  }

  async lineage(flow: string, key: string): Promise<AuditEntry[]> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `${flow}#${key}` },
      ScanIndexForward: true,
    });
    // A key spelled like a window's partition key must not show the window.
    return items.filter((item) => item.z === undefined).map(fromItem);
  }

  /**
   * A flow's entries with `since <= at <= until` (ms), oldest first: per hour the window touches, one Query of its
   * window partition and one of the `byFlowTime` index (`${flow}#YYYY-MM-DDTHH`) for items of earlier releases.
   */
  async between(flow: string, since: number, until: number): Promise<AuditEntry[]> {
    const hour = 3_600_000;
    const entries: AuditEntry[] = [];
    // A window item is keyed at its earliest entry, which may lie a little before `since`.
    const from = since - WINDOW_SPAN_MS;
    const hours: string[] = [];
    for (let h = Math.floor(from / hour) * hour; h <= until; h += hour) hours.push(hourOf(h));
    const found = await Promise.all(
      hours.flatMap((h) => [
        queryAll(this.client, {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :until',
          ExpressionAttributeValues: { ':pk': windowPk(flow, h), ':from': new Date(from).toISOString(), ':until': `${new Date(until).toISOString()}\uffff` },
        }),
        queryAll(this.client, {
          TableName: this.tableName,
          IndexName: AUDIT_TIME_INDEX,
          KeyConditionExpression: 'flowHour = :fh AND #at BETWEEN :since AND :until',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':fh': `${flow}#${h}`, ':since': from, ':until': until },
        }),
      ]),
    );
    for (const item of found.flat()) {
      const unpacked = item.z instanceof Uint8Array ? unpackWindow(flow, item.z) : [fromItem(item)];
      for (const e of unpacked) if (e.at >= since && e.at <= until) entries.push(e);
    }
    return entries.sort((a, b) => a.at - b.at);
  }

  private toItem(e: AuditEntry): Record<string, unknown> {
    const iso = new Date(e.at).toISOString();
    return {
      pk: `${e.flow}#${e.key}`,
      sk: `${iso}#${e.eventId}#${e.step}#${e.outcome}${e.target ? `#${e.target}` : ''}`,
      at: e.at,
      expiresAt: Math.floor(e.at / 1000) + this.retentionDays(e.flow) * 86_400,
      flow: e.flow,
      key: e.key,
      step: e.step,
      source: e.source,
      eventId: e.eventId,
      outcome: e.outcome,
      reason: e.reason,
      version: e.version,
      target: e.target,
      detail: e.detail,
    };
  }
}

/**
 * What a window keeps of an entry: what status (outcomes, lag from `detail.ts`, flagged PII names) and replay (keys
 * decided) read. Event ids, reasons and the rest of the detail are in the entry items, the state items, the target
 * markers and the decision log; an event id, random, would make up most of a window's bytes.
 */
function windowEntry(e: AuditEntry): Record<string, unknown> {
  const detail = Object.fromEntries(Object.entries(e.detail ?? {}).filter(([k]) => k === 'ts' || k === 'piiFlagged'));
  return {
    key: e.key,
    step: e.step,
    at: e.at,
    outcome: e.outcome,
    ...(e.target !== undefined ? { target: e.target } : {}),
    ...(e.version !== undefined ? { version: e.version } : {}),
    ...(Object.keys(detail).length > 0 ? { detail } : {}),
  };
}

function unpackWindow(flow: string, z: Uint8Array): AuditEntry[] {
  return (JSON.parse(inflateRawSync(z).toString('utf8')) as Omit<AuditEntry, 'flow' | 'source' | 'eventId'>[]).map((e) => ({ flow, source: '', eventId: '', ...e }));
}

function fromItem(item: Record<string, unknown>): AuditEntry {
  const entry: Record<string, unknown> = {
    flow: item.flow,
    key: item.key,
    step: item.step,
    at: Number(item.at),
    source: item.source,
    eventId: item.eventId,
    outcome: item.outcome,
  };
  for (const f of ['reason', 'version', 'target', 'detail'] as const) if (item[f] !== undefined) entry[f] = item[f];
  return entry as unknown as AuditEntry;
}

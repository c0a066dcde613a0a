import { queryAll } from './dynamodb-query';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry, AuditLog, AuditWindow, LogPort } from '../ports';
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

/**
 * AuditLog on the audit table. Item: pk `${flow}#${key}`, sk `${iso at}#${eventId}#${step}#${outcome}`
 * (plus `#${target}` for deliveries), `flowHour` `${flow}#YYYY-MM-DDTHH` and `at` (number, ms) for the
 * `byFlowTime` index, `expiresAt` (epoch seconds) for TTL, and the entry's fields.
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
    const items = entries.map((e) => this.toItem(e));
    await batchPutAll(this.client, this.tableName, items, this.retry, (i) => `${i.pk}\u0000${i.sk}`);
    for (const e of entries) this.decisions?.info('decision', decisionLogFields(e));
  }

  async lineage(flow: string, key: string): Promise<AuditEntry[]> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `${flow}#${key}` },
      ScanIndexForward: true,
    });
    return items.map(fromItem);
  }

  /**
   * A flow's entries with `since <= at <= until` (ms), through the `byFlowTime` index: one query per hour
   * bucket (`${flow}#YYYY-MM-DDTHH`) the window touches, oldest first.
   */
  async between(flow: string, since: number, until: number): Promise<AuditEntry[]> {
    const hour = 3_600_000;
    const entries: AuditEntry[] = [];
    for (let h = Math.floor(since / hour) * hour; h <= until; h += hour) {
      const items = await queryAll(this.client, {
        TableName: this.tableName,
        IndexName: 'byFlowTime',
        KeyConditionExpression: 'flowHour = :fh AND #at BETWEEN :since AND :until',
        ExpressionAttributeNames: { '#at': 'at' },
        ExpressionAttributeValues: { ':fh': `${flow}#${new Date(h).toISOString().slice(0, 13)}`, ':since': since, ':until': until },
        ScanIndexForward: true,
      });
      entries.push(...items.map(fromItem));
    }
    return entries;
  }

  private toItem(e: AuditEntry): Record<string, unknown> {
    const iso = new Date(e.at).toISOString();
    return {
      pk: `${e.flow}#${e.key}`,
      sk: `${iso}#${e.eventId}#${e.step}#${e.outcome}${e.target ? `#${e.target}` : ''}`,
      flowHour: `${e.flow}#${iso.slice(0, 13)}`,
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

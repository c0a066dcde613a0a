import type { RecordView } from './merge';

/** What S3 lines, EventBridge details, SQS bodies and HTTP body mappings carry for one delivered key. */
export interface TargetRecord {
  readonly flow: string;
  readonly key: string;
  readonly op: 'upsert' | 'delete';
  /** State version: consumers keep the highest they have seen per key. */
  readonly version: number;
  /** Clock of the newest change behind this version (ms since epoch). */
  readonly ts: number;
  /** The current record; null on delete. */
  readonly data: Record<string, unknown> | null;
}

export function targetRecord(change: { flow: string; key: string; version: number; ts: number; view: RecordView }): TargetRecord {
  const deleted = change.view.deleted || !change.view.data;
  return {
    flow: change.flow,
    key: change.key,
    op: deleted ? 'delete' : 'upsert',
    version: change.version,
    ts: change.ts,
    data: deleted ? null : change.view.data,
  };
}

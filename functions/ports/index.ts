import type { ChangeEnvelope, StepName } from '../core/envelope';
import type { Conflict, MergeDoc, RecordView } from '../core/merge';

/** Persisted state of one (flow, key). */
export interface StoredState {
  readonly flow: string;
  readonly key: string;
  /** Incremented on every write; the condition of the next write. */
  readonly version: number;
  readonly doc: MergeDoc;
  readonly view: RecordView;
  /** Content hash and version last delivered to each target. */
  readonly delivered: Readonly<Record<string, { readonly version: number; readonly hash: string }>>;
  readonly updatedAt: number;
}

/** Thrown by StateStore.put when the stored version is not the expected one. */
export class VersionConflictError extends Error {
  constructor(readonly flow: string, readonly key: string) {
    super(`state of ${flow}/${key} changed concurrently`);
    this.name = 'VersionConflictError';
  }
}

export interface StateStore {
  /** Reads many keys of one flow (BatchGetItem, unprocessed keys retried). */
  getMany(flow: string, keys: readonly string[]): Promise<Map<string, StoredState>>;
  get(flow: string, key: string): Promise<StoredState | undefined>;
  /** Writes state if its stored version is still `expectedVersion` (0 = absent); else VersionConflictError. */
  put(state: StoredState, expectedVersion: number): Promise<void>;
  /** Records a delivery unless a newer version was already recorded for that target. */
  markDelivered(flow: string, key: string, targetId: string, version: number, hash: string): Promise<void>;
}

export type AuditOutcome =
  | 'captured'
  | 'duplicate'
  | 'filtered'
  | 'quarantined'
  | 'won'
  | 'superseded'
  | 'conflict'
  | 'delivered'
  | 'skipped'
  | 'failed';

/** One decision about a record. Values in `detail` are already masked. */
export interface AuditEntry {
  readonly flow: string;
  readonly key: string;
  readonly step: StepName;
  readonly at: number;
  readonly source: string;
  readonly eventId: string;
  readonly outcome: AuditOutcome;
  readonly reason?: string;
  readonly version?: number;
  readonly target?: string;
  readonly detail?: Record<string, unknown>;
}

export interface AuditLog {
  /** Writes entries in batches (BatchWriteItem), retrying unprocessed items with backoff. */
  write(entries: readonly AuditEntry[]): Promise<void>;
  /** Entries of one record, oldest first. */
  lineage(flow: string, key: string): Promise<AuditEntry[]>;
}

export interface QuarantineItem {
  readonly flow: string;
  readonly id: string;
  readonly source: string;
  readonly at: number;
  readonly reason: string;
  readonly errors: readonly string[];
  /** The original record with masking applied. */
  readonly record: Record<string, unknown>;
  readonly envelope: Omit<ChangeEnvelope, 'data' | 'before'>;
  /** Where it came from, e.g. webhook id and index, object key and line. */
  readonly position?: string;
}

export interface QuarantineStore {
  put(items: readonly QuarantineItem[]): Promise<void>;
  list(flow: string, limit?: number): Promise<QuarantineItem[]>;
}

export interface ConflictStore {
  /** Stores open conflicts (idempotent by conflict id). */
  open(conflicts: readonly Conflict[], at: number): Promise<void>;
  list(flow: string, status?: 'open' | 'resolved'): Promise<(Conflict & { status: string; openedAt: number })[]>;
}

export interface DedupStore {
  /** True the first time an id is claimed within the TTL (a conditional put); false for a repeat. */
  claim(scope: string, id: string, ttlSeconds: number): Promise<boolean>;
}

export interface OutboundMessage {
  readonly id: string;
  readonly body: string;
}

export interface Publisher {
  /** Sends messages to a queue in batches (SendMessageBatch), retrying failed entries; returns ids that still failed. */
  send(queueUrl: string, messages: readonly OutboundMessage[]): Promise<{ failed: string[] }>;
}

export interface Secrets {
  get(name: string): Promise<string>;
}

export interface Clock {
  now(): number;
}

import type { ChangeEnvelope, StepName } from '../core/envelope';
import type { Clock as ChangeClock, Conflict, MergeDoc, RecordView } from '../core/merge';
import { SynclineError } from '../core/errors';

/** Persisted state of one (flow, key). */
export interface StoredState {
  readonly flow: string;
  readonly key: string;
  /** Incremented on every write; the condition of the next write. */
  readonly version: number;
  readonly doc: MergeDoc;
  readonly view: RecordView;
  /** Content hash and version last delivered to each target, and when and what (lineage shows it from here). */
  readonly delivered: Readonly<Record<string, { readonly version: number; readonly hash: string; readonly remoteId?: string } & Partial<DeliveryNote>>>;
  readonly updatedAt: number;
  /**
   * `<flow>#<source>#<table>` of the last change from a source with `onTruncate: "delete"` (a Debezium table): a
   * truncate of that table deletes the key. Absent on tombstones and on keys of other sources.
   */
  readonly truncateScope?: string;
  /** The clock of the change that listed the key under `truncateScope`: a late change of another table compares with it. */
  readonly truncateScopeClock?: ChangeClock;
  /**
   * The key's latest decisions, oldest first (at most RECENT_DECISIONS), written with the state they explain: lineage
   * reads them here, so a change costs no audit item of its own. Older ones move to the audit table.
   */
  readonly recent?: readonly AuditEntry[];
}

/** What a target's delivered marker tells lineage about the delivery it records. */
export interface DeliveryNote {
  readonly at: number;
  /** Ids of the changes behind the delivered version. */
  readonly eventIds: readonly string[];
  /** Who asked, for a replay. */
  readonly replayedBy?: string;
}

/** Decisions a state item keeps before the oldest move to audit entry items. */
export const RECENT_DECISIONS = 4;

/** Thrown by StateStore.put when the stored version is not the expected one. */
export class VersionConflictError extends SynclineError {
  constructor(readonly flow: string, readonly key: string) {
    super(`state of ${flow}/${key} changed concurrently`);
    this.name = 'VersionConflictError';
  }
}

/**
 * Thrown by StateStore.put, before writing, when the state item would pass the 400 KB DynamoDB holds: the merged
 * record (several sources' fields together) or its recent decisions grew too large. Nothing was written.
 */
export class StateTooLargeError extends SynclineError {
  constructor(readonly flow: string, readonly key: string, readonly bytes?: number, limit?: number) {
    super(`the merged record of ${flow}/${key} would take ${bytes === undefined ? 'more than a state item holds (400 KB)' : `${bytes} bytes stored, more than the ${limit ?? 409_600} bytes a state item holds`}`);
    this.name = 'StateTooLargeError';
  }
}

/**
 * Thrown by a batch write when some items were refused for what they hold (a value DynamoDB cannot store) while
 * the others were written: `failed` lists the positions, in the input, of the refused items only.
 */
export class PartialWriteError extends SynclineError {
  constructor(
    readonly failed: readonly number[],
    readonly reasons: readonly string[],
  ) {
    super(`${failed.length} item(s) refused: ${[...new Set(reasons)].join('; ')}`);
    this.name = 'PartialWriteError';
  }
}

/** The keys whose state names a truncate scope, a page at a time (the index behind `onTruncate: "delete"`). */
/** A truncate resolve expanded: its clock, for the changes of its table from before it that arrive later. */
export interface TruncateMark {
  readonly id: string;
  readonly source: string;
  readonly ts: number;
  readonly seq: string;
  readonly pos?: string;
  /** When the capture saw it (ms). */
  readonly at: number;
}

export interface TruncateScopeIndex {
  keysInTruncateScope(flow: string, scope: string, limit: number, cursor?: string): Promise<{ readonly keys: string[]; readonly cursor?: string }>;
  /** Keeps the scope's latest truncate: a later one replaces an earlier one, never the reverse. */
  markTruncated(flow: string, scope: string, mark: TruncateMark): Promise<void>;
  /** The latest truncate of each scope that has one. */
  truncateMarks(flow: string, scopes: readonly string[]): Promise<Map<string, TruncateMark>>;
}

export interface StateStore {
  /** Reads many keys of one flow (BatchGetItem, unprocessed keys retried). */
  getMany(flow: string, keys: readonly string[]): Promise<Map<string, StoredState>>;
  get(flow: string, key: string): Promise<StoredState | undefined>;
  /** Writes state if its stored version is still `expectedVersion` (0 = absent); else VersionConflictError, or StateTooLargeError. */
  put(state: StoredState, expectedVersion: number): Promise<void>;
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
  | 'failed'
  /** A change syncline itself delivered, come back through a source: dropped, not re-propagated. */
  | 'echo'
  /** A source table was truncated (Debezium `op: "t"`). */
  | 'truncated'
  /** An operator asked to deliver the key's current state again (`syncline replay`). */
  | 'replayed';

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
  /**
   * Where lineage finds this entry instead of an audit item of its own: in the state item's recent decisions, in
   * (a capture) the `detail.captured` of the entry of the step that decided the record, or (a delivery) in the
   * target's delivered marker. It is still counted in
   * the time windows and logged.
   */
  readonly heldBy?: 'state' | 'decision' | 'marker';
}

export interface AuditLog {
  /** Writes entries in batches (BatchWriteItem), retrying unprocessed items with backoff. */
  write(entries: readonly AuditEntry[]): Promise<void>;
  /** Entries of one record, oldest first. */
  lineage(flow: string, key: string): Promise<AuditEntry[]>;
  /** Writes entries that left a state item's recent decisions as entry items of their record only (written and counted once already). */
  archive(entries: readonly AuditEntry[]): Promise<void>;
}

/** A flow's audit entries over a time window (the `byFlowTime` index): what status counts and measures lag on. */
export interface AuditWindow {
  /** Entries with `since <= at <= until` (ms), oldest first. */
  between(flow: string, since: number, until: number): Promise<AuditEntry[]>;
}

/** Depth of one queue: visible plus in flight (ApproximateNumberOfMessages + ...NotVisible). */
export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly total: number;
}

/** Reads queue depths (SQS GetQueueAttributes). */
export interface QueueDepths {
  depth(queueUrl: string): Promise<QueueDepth>;
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
  /** Why `record` is empty: the record was too large to keep in the item. */
  readonly dropped?: string;
  /** Why `record` is empty in a listing: the answer would have passed what a function may return (the item keeps it). */
  readonly omitted?: string;
  /** For a change set aside after the transform (by resolve): the fingerprint of the transform that made `record`. */
  readonly transform?: string;
}

/** Where a quarantine listing goes on: after the item of this time and id (the last of the page before). */
export interface QuarantineCursor {
  readonly at: number;
  readonly id: string;
}

/** One page of a quarantine listing, newest first; `next` when older items may follow. */
export interface QuarantinePage {
  readonly items: QuarantineItem[];
  readonly next?: QuarantineCursor;
}

/** Where the steps quarantine records: they only add to it. */
export interface QuarantineSink {
  put(items: readonly QuarantineItem[]): Promise<void>;
}

/** Quarantine as the admin API reads it: listed, fetched and removed once replayed. */
export interface QuarantineStore extends QuarantineSink {
  /** Newest first, `limit` items (default 100) from `before` on. */
  list(flow: string, options?: { readonly limit?: number; readonly before?: QuarantineCursor }): Promise<QuarantinePage>;
  /** The items of these ids that are quarantined. */
  get(flow: string, ids: readonly string[]): Promise<QuarantineItem[]>;
  /**
   * Removes items once replayed, each only while it is still the version given (same `at`): an item that a
   * replay got quarantined again in the meantime (same id, newer `at`) is kept. Answers the ids removed.
   */
  delete(items: readonly Pick<QuarantineItem, 'flow' | 'id' | 'at'>[]): Promise<string[]>;
}

/** How a reviewer settled a conflict. */
export type ConflictChoice = { readonly choose: 'current' | 'incoming' } | { readonly value: unknown };

/** The resolution recorded on a conflict once it is settled. */
export interface ConflictResolution {
  readonly resolvedAt: number;
  readonly resolvedBy: string;
  readonly choice: ConflictChoice;
  /** Id of the change (source `syncline:review`) that applies it. */
  readonly changeId: string;
}

/** A stored conflict: open, resolved with its resolution, or superseded (its record no longer holds it) at `supersededAt`. */
export type StoredConflict = Conflict & {
  status: 'open' | 'resolved' | 'superseded' | (string & {});
  openedAt: number;
  supersededAt?: number;
  /** Why the values are missing in a listing: the answer would have passed what a function may return. */
  omitted?: string;
} & Partial<Omit<ConflictResolution, 'choice'>> & {
  /** As resolved; a given value over 8 KB is kept as a note of its size (the resolution's change carries it). */
  choice?: ConflictChoice | { readonly omitted: string };
};

/** A page of a conflict listing: at most `limit`, after the conflict of this opening time and id, or opened at `from` or later. */
export interface ConflictPage {
  readonly limit: number;
  readonly after?: { readonly openedAt: number; readonly id: string };
  readonly from?: number;
}

export interface ConflictStore {
  /** Stores open conflicts (idempotent by conflict id); answers the ids that were new (not stored before). */
  open(conflicts: readonly Conflict[], at: number): Promise<string[]>;
  /** Oldest first: every one, or with `page` at most `limit` opened after the conflict `after` names. */
  list(flow: string, status?: 'open' | 'resolved' | 'superseded', page?: ConflictPage): Promise<StoredConflict[]>;
  get(flow: string, id: string): Promise<StoredConflict | undefined>;
  /**
   * How many conflicts of the flow are open, counted without holding them in memory; undefined when `stop` said to
   * stop first (a count reads every open conflict, 1 MB a call).
   */
  countOpen(flow: string, stop?: () => boolean): Promise<number | undefined>;
  /**
   * Moves an open conflict to `resolved` with its resolution, conditionally on it still being open and on none of
   * `siblings` (the other conflicts its record holds on the same field) being resolved, in one step: false when it
   * is absent or already resolved, or a sibling is (so of two concurrent resolutions of a field only one wins).
   */
  markResolved(flow: string, id: string, resolution: ConflictResolution, siblings?: readonly string[]): Promise<boolean>;
  /** Undoes `markResolved` when its change could not be sent (only while the resolution is still `changeId`'s). */
  reopen(flow: string, id: string, changeId: string): Promise<void>;
  /**
   * Closes an open conflict that its record no longer holds (a newer edit replaced a side): status `superseded`,
   * conditionally on it still being open; false when it is not.
   */
  markSuperseded(flow: string, id: string, at: number): Promise<boolean>;
}

/** One event for an EventBridge bus. */
export interface PublishedEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
}

export interface EventPublisher {
  /** Puts events on the configured bus (PutEvents in calls of 10); throws when any entry still fails. */
  put(events: readonly PublishedEvent[]): Promise<void>;
}

export interface DedupStore {
  /**
   * Claims a delivery id (a conditional put): `claimed` the first time, held as pending for `pendingSeconds`;
   * `pending` while another request holds it unconfirmed; `duplicate` once confirmed. A pending claim that expires
   * (its request crashed before the records were queued) can be claimed again, so the sender's retry is not lost.
   * A claim answers when the delivery first arrived: a retry of one whose capture failed keeps that time.
   */
  claim(scope: string, id: string, pendingSeconds: number): Promise<{ readonly firstAt: number } | 'pending' | 'duplicate'>;
  /** Confirms a claim once its records are queued: repeats within `ttlSeconds` are duplicates. */
  confirm(scope: string, id: string, ttlSeconds: number): Promise<void>;
}

export interface OutboundMessage {
  readonly id: string;
  readonly body: string;
}

export interface Publisher {
  /**
   * Sends messages to a queue in batches (SendMessageBatch), retrying failed entries; returns ids that still failed.
   * `single`: one message per SQS message even to a queue that takes packs; `delaySeconds` (≤ 900): first receive.
   */
  send(queueUrl: string, messages: readonly OutboundMessage[], options?: { readonly single?: boolean; readonly delaySeconds?: number }): Promise<{ failed: string[] }>;
  /** Received messages are not received again for `seconds` (at most 12 hours from their receive); answers those it had to hold. */
  hold?(queueUrl: string, receiptHandles: readonly string[], seconds: number): Promise<readonly string[]>;
}

/**
 * Claim check store: holds message bodies too large for a queue. `put` returns a pointer (for S3, the object
 * key) that `get` reads back. `put` is idempotent: the same body gives the same pointer on a retry.
 */
export interface PayloadStore {
  put(body: string): Promise<string>;
  /** The stored body; throws when the pointer cannot be read (missing, expired, denied, corrupt). */
  get(pointer: string): Promise<string>;
  /** Removes a consumed payload (raw values must not outlive their message); a missing one is not an error. */
  delete(pointer: string): Promise<void>;
}

export interface Secrets {
  get(name: string): Promise<string>;
}

export interface Clock {
  now(): number;
}

/** Waits `ms`; tests pass one that does not. */
export type Sleep = (ms: number) => Promise<void>;

/** Optional: removes a dedup claim so a request whose processing failed can be retried by its sender. */
export interface DedupRelease {
  release(scope: string, id: string): Promise<void>;
}

/** Structured logger. Callers pass ids, keys and outcomes, never record data. */
export interface LogPort {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
  setCorrelationId?(id: string | undefined): void;
}

export type MetricName =
  | 'Captured'
  /** Debezium events that are not row changes (heartbeats, transaction boundaries, schema changes, messages, tombstones). */
  | 'Skipped'
  /** Debezium truncate events. */
  | 'Truncated'
  | 'Filtered'
  | 'Quarantined'
  | 'Resolved'
  | 'Superseded'
  | 'Conflicts'
  | 'Delivered'
  | 'DeliveryFailed'
  | 'DeliveryRejected'
  | 'Echo'
  | 'DeletesInferred'
  | 'DeleteInferenceRefused'
  | 'PullFailed';

/** Levels sampled once per run (a gauge), published even when 0. */
export type GaugeName = 'OpenConflicts';

export interface MetricsPort {
  count(name: MetricName, value: number): void;
  /** One sample of a level, e.g. the open conflicts after a sweep; dashboards read its Maximum. */
  gauge?(name: GaugeName, value: number): void;
  /** One sample per delivered record, so CloudWatch percentiles (p50, p99) are meaningful. */
  lagMs?(ms: number): void;
}

export const noopLogger: LogPort = { debug() {}, info() {}, warn() {}, error() {} };
export const noopMetrics: MetricsPort = { count() {} };
export const systemClock: Clock = { now: () => Date.now() };
export const timerSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handler's clock, logger and metrics, with the system clock and no-op telemetry where none is given. */
export function telemetryOf(deps: { readonly clock?: Clock; readonly logger?: LogPort; readonly metrics?: MetricsPort }): {
  clock: Clock;
  logger: LogPort;
  metrics: MetricsPort;
} {
  return { clock: deps.clock ?? systemClock, logger: deps.logger ?? noopLogger, metrics: deps.metrics ?? noopMetrics };
}

export * from './pull';
export * from './targets';
export * from './table-scan';
export * from './table-stream';

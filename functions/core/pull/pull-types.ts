import type { FlowConfig } from '../../config/schema';
import type { ChangeEnvelope } from '../envelope';
import type { AuditLog, Clock, LogPort, MetricsPort, Publisher, PullReader, PullStateStore, QuarantineSink } from '../../ports';
import type { PullKeys } from './pull-keys';
import type { ScheduleSource } from './records';

/** What a pull invocation reports (the admin `pull` endpoint answers with it). */
export interface PullSummary {
  readonly flow: string;
  readonly source: string;
  readonly runId: string;
  /** Pages, records, changed and quarantined of this invocation. */
  readonly pages: number;
  readonly records: number;
  readonly changed: number;
  readonly quarantined: number;
  readonly deletesInferred: number;
  /** Deletes that the `maxDeleteRatio` guard refused, when it did. */
  readonly deletesRefused?: number;
  /** Why delete inference did not run, when it did not (partial pull, incremental mode, disabled). */
  readonly deletesSkipped?: string;
  /** The run finished with every page read. */
  readonly complete: boolean;
  /** The run stopped before the end and continues in the next invocation. */
  readonly continued: boolean;
  /** Another invocation holds the source's lease; nothing was done. */
  readonly busy?: boolean;
  /** The source failed (after retries); the run resumes from its checkpoint or, after repeated failures, is abandoned. */
  readonly error?: string;
  /** Totals of the whole run, when it spanned several invocations. */
  readonly run?: PullCounts & { readonly invocations: number };
}

/** Pages, records, changed and quarantined, of an invocation or of a whole run. */
export interface PullCounts {
  readonly pages: number;
  readonly records: number;
  readonly changed: number;
  readonly quarantined: number;
}

/** What one page added to its run. */
export interface PageResult {
  readonly records: number;
  readonly changed: number;
  readonly quarantined: number;
  /** A record without a readable key was quarantined: its key may still exist. */
  readonly keyless: boolean;
  /** The run's high-water mark after the page (incremental mode). */
  readonly hwm?: string;
  /** A chunk of seen keys was written (full mode). */
  readonly seenWritten: boolean;
}

/** What became of delete inference when a run finished; absent fields did not apply. */
export interface DeleteOutcome {
  readonly deletesInferred: number;
  readonly deletesRefused?: number;
  readonly deletesSkipped?: string;
}

export interface PullDeps {
  readonly flow: FlowConfig;
  readonly source: ScheduleSource;
  readonly reader: PullReader;
  readonly state: PullStateStore;
  readonly publisher: Publisher;
  readonly transformQueueUrl: string;
  readonly quarantine: QuarantineSink;
  /** Receives every decision; the caller filters by the flow's audit level. */
  readonly audit: AuditLog;
  readonly clock: Clock;
  readonly logger: LogPort;
  readonly metrics: MetricsPort;
  /** Milliseconds left in this invocation. */
  readonly remainingMs: () => number;
  /** Stop and checkpoint when less than this is left. @default 60000 */
  readonly reserveMs?: number;
  /** Masks a record before it is quarantined. */
  readonly maskRecord: (record: Record<string, unknown>) => Record<string, unknown>;
  /** Unique id of this invocation, the lease owner. */
  readonly owner: string;
  /** Consecutive failed invocations after which an active run is abandoned as partial. @default 3 */
  readonly maxFailures?: number;
  /** The deployment's hash key, read only when the flow masks the pull's key (core/pull/pull-keys.ts). */
  readonly hashKey?: () => Promise<string>;
}

export interface PullRequest {
  /** Run delete inference even beyond `maxDeleteRatio` (an operator's explicit override). */
  readonly acceptDeletes?: boolean;
  /** Start a new run even if one is active (its progress is dropped). */
  readonly restart?: boolean;
}

/** What the parts of one invocation's pull share. */
export interface PullContext {
  readonly deps: PullDeps;
  /** Raw fields that identify a pulled record. */
  readonly keyFields: readonly string[];
  /** How the pull's own state names keys and keeps their fields. */
  readonly keys: PullKeys;
  /** Sends envelopes to the transform queue; throws when some could not be sent. */
  readonly send: (envelopes: readonly ChangeEnvelope[]) => Promise<void>;
  /** The audit key of a record's raw key ('' when the transform sets the key). */
  readonly auditKeyOf: (key: string) => string;
  /** The key of a record the capture rejects, read before the transform where it can be (through renames); else ''. */
  readonly rejectedKeyOf: (key: string) => string;
}

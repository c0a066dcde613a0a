import type { FlowConfig } from '../../config/schema';
import type { AuditLog, Clock, LogPort, MetricsPort, Publisher, PullReader, PullStateStore, QuarantineStore } from '../../ports';
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
  readonly run?: { readonly pages: number; readonly records: number; readonly changed: number; readonly quarantined: number; readonly invocations: number };
}

export interface PullDeps {
  readonly flow: FlowConfig;
  readonly source: ScheduleSource;
  readonly reader: PullReader;
  readonly state: PullStateStore;
  readonly publisher: Publisher;
  readonly transformQueueUrl: string;
  readonly quarantine: QuarantineStore;
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
}

export interface PullRequest {
  /** Run delete inference even beyond `maxDeleteRatio` (an operator's explicit override). */
  readonly acceptDeletes?: boolean;
  /** Start a new run even if one is active (its progress is dropped). */
  readonly restart?: boolean;
}

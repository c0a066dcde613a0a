import type { MetricName } from '../ports';
import type { StoreTableId } from '../plan/store-tables';

/** The environment variable holding each store table's name: set by SyncFlow, read by the Lambda entries. */
export const TABLE_ENV: Readonly<Record<StoreTableId, string>> = {
  state: 'STATE_TABLE',
  audit: 'AUDIT_TABLE',
  quarantine: 'QUARANTINE_TABLE',
  conflicts: 'CONFLICT_TABLE',
  dedup: 'DEDUP_TABLE',
};

/** CloudWatch namespace of every metric the functions publish (EMF). */
export const METRICS_NAMESPACE = 'Syncline';

/**
 * A flow's service name: Powertools' `service` dimension and log field. CloudWatch matches a metric on all of its
 * dimensions (`Flow` and `service`), so the alarms and dashboard must name it exactly as the functions do.
 */
export const flowServiceName = (flowId: string): string => `syncline-${flowId}`;

/**
 * Outcome counters the handlers publish, Sum per period, in pipeline order; pull counters are shown for flows with a
 * `schedule` source. Typed as MetricName, so a name the handlers cannot publish does not compile.
 */
export const OUTCOME_METRICS = ['Captured', 'Filtered', 'Quarantined', 'Resolved', 'Superseded', 'Conflicts', 'Delivered', 'DeliveryFailed', 'DeliveryRejected', 'Echo'] as const satisfies readonly MetricName[];
export const PULL_METRICS = ['DeletesInferred', 'DeleteInferenceRefused', 'PullFailed'] as const satisfies readonly MetricName[];
/** What a Debezium source counts besides records: events that are no row change, and truncates. */
export const DEBEZIUM_METRICS = ['Skipped', 'Truncated'] as const satisfies readonly MetricName[];
/** Source `ts` to delivery, in milliseconds, one value per delivered record (so percentiles are meaningful). */
export const LAG_METRIC = 'LagMs';
/**
 * One sample per batch invocation (SQS or stream) with dimension `FunctionName`: 1 when it answered some messages as
 * failed (`batchItemFailures`), else 0. Lambda's `Errors` counts no such invocation, since it returned normally.
 */
export const PARTIAL_BATCH_METRIC = 'PartialBatchFailures';
/** Conflicts open after each conflict sweep of a manual flow (a gauge: one sample per sweep, read as Maximum). */
export const OPEN_CONFLICTS_METRIC = 'OpenConflicts';

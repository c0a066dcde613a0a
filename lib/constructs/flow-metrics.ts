import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { METRICS_NAMESPACE, type SyncFlow } from './sync-flow';

/** Period of every metric on the dashboard and in the alarms. */
export const PERIOD = Duration.minutes(5);

/**
 * Outcome counters the handlers publish (EMF, namespace `Syncline`), Sum per period, in pipeline order.
 * Pull counters are added to the row of flows with a `schedule` source.
 */
export const OUTCOME_METRICS = ['Captured', 'Filtered', 'Quarantined', 'Resolved', 'Superseded', 'Conflicts', 'Delivered', 'DeliveryFailed', 'DeliveryRejected', 'Echo'] as const;
export const PULL_METRICS = ['DeletesInferred', 'DeleteInferenceRefused', 'PullFailed'] as const;
/** Source `ts` to delivery, in milliseconds, one value per delivered record (so percentiles are meaningful). */
export const LAG_METRIC = 'LagMs';
/** Conflicts open after each conflict sweep of a manual flow (a gauge: one sample per sweep, read as Maximum). */
export const OPEN_CONFLICTS_METRIC = 'OpenConflicts';

/**
 * Powertools Metrics adds a `service` dimension (POWERTOOLS_SERVICE_NAME, set by SyncFlow to `syncline-<flow>`)
 * next to `Flow`, and CloudWatch matches a metric on all of its dimensions, so both are named here.
 */
export const flowServiceName = (flowId: string): string => `syncline-${flowId}`;

/** A flow's EMF metric (dimensions `Flow` and `service`). */
export function flowMetric(flowId: string, metricName: string, statistic: string, label?: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { Flow: flowId, service: flowServiceName(flowId) },
    statistic,
    period: PERIOD,
    // A label makes an alarm render its metric as metric math; only the dashboard passes one.
    ...(label ? { label } : {}),
  });
}

/** A dead-letter queue of a flow and what it holds, for the alarm's runbook. */
export interface DeadLetter {
  readonly id: string;
  readonly queue: Queue;
  readonly kind: 'step' | 'stream' | 'schedule';
  /** Step queue plan id (`step`) or source id (`stream`, `schedule`). */
  readonly of: string;
}

/** Every DLQ of a flow: the step queues' DLQs, stream on-failure queues and scheduler DLQs. */
export function deadLettersOf(flow: SyncFlow): DeadLetter[] {
  return [
    ...Object.entries(flow.deadLetterQueues).map(([qid, queue]) => ({ id: `dlq-${qid}`, queue, kind: 'step' as const, of: qid })),
    ...Object.entries(flow.streamFailureQueues).map(([src, queue]) => ({ id: `stream-failure-${src}`, queue, kind: 'stream' as const, of: src })),
    ...Object.entries(flow.scheduleDeadLetterQueues ?? {}).map(([src, queue]) => ({ id: `schedule-dlq-${src}`, queue, kind: 'schedule' as const, of: src })),
  ];
}

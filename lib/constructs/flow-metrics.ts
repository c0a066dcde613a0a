import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { flowServiceName, METRICS_NAMESPACE, PARTIAL_BATCH_METRIC } from '../../functions/wiring/contract';
import type { SyncFlow } from './sync-flow';

/** Period of every metric on the dashboard and in the alarms. */
export const PERIOD = Duration.minutes(5);

export { DEBEZIUM_METRICS, flowServiceName, LAG_METRIC, OPEN_CONFLICTS_METRIC, OUTCOME_METRICS, PULL_METRICS } from '../../functions/wiring/contract';

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

/** How many of a batch function's invocations failed some of their messages (dimensions `Flow`, `service`, `FunctionName`). */
export function partialBatchFailures(flowId: string, functionName: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: PARTIAL_BATCH_METRIC,
    dimensionsMap: { Flow: flowId, service: flowServiceName(flowId), FunctionName: functionName },
    statistic: 'Sum',
    period: PERIOD,
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

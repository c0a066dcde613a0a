import { GraphWidget, SingleValueWidget, TextWidget, type IMetric, type IWidget, type Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { hasDebeziumSource, isManualFlow } from '../../functions/plan/flow-traits';
import { DEBEZIUM_METRICS, deadLettersOf, flowMetric, LAG_METRIC, OPEN_CONFLICTS_METRIC, OUTCOME_METRICS, PERIOD, PULL_METRICS } from './flow-metrics';
import type { FlowAlarms } from './flow-alarms';
import type { SyncFlow } from './sync-flow';

/** One dashboard row: a title, throughput by outcome, lag, queues, DLQs, function errors, conflicts and, for manual flows, the open conflict count. */
export function flowRow(flow: SyncFlow, alarms: FlowAlarms): IWidget[] {
  const flowConfig = flow.flowPlan.flow;
  const flowId = flowConfig.id;
  const hasPull = flowConfig.sources.some((s) => s.type === 'schedule');
  const hasDebezium = hasDebeziumSource(flowConfig);
  const manual = isManualFlow(flowConfig);
  const height = 6;
  const queueEntries = Object.entries(flow.queues);
  const functionEntries = Object.entries(flow.functions);
  const deadLetters = deadLettersOf(flow);
  const maxOf = (m: Metric, label: string): IMetric => m.with({ statistic: 'Maximum', period: PERIOD, label });

  return [
    new TextWidget({
      markdown: `### ${flowId}${flowConfig.description ? `: ${flowConfig.description}` : ''}`,
      width: 24,
      height: 1,
    }),
    new GraphWidget({
      title: `${flowId}: records by outcome (sum / 5 min)`,
      // Narrower on manual flows, to keep the open conflict count on the same row.
      width: manual ? 4 : 6,
      height,
      stacked: false,
      left: [...OUTCOME_METRICS, ...(hasPull ? PULL_METRICS : []), ...(hasDebezium ? DEBEZIUM_METRICS : [])].map((m) => flowMetric(flowId, m, 'Sum', m)),
    }),
    new GraphWidget({
      title: `${flowId}: lag source ts to delivery (ms)`,
      width: 4,
      height,
      left: [flowMetric(flowId, LAG_METRIC, 'p50', 'p50'), flowMetric(flowId, LAG_METRIC, 'p99', 'p99')],
      leftAnnotations: [{ value: alarms.thresholds.lagP99Ms, label: 'p99 alarm' }],
    }),
    new GraphWidget({
      title: `${flowId}: queue depth (left) and age of oldest message in s (right)`,
      width: 4,
      height,
      left: queueEntries.map(([qid, q]) => maxOf(q.metricApproximateNumberOfMessagesVisible(), `${qid} visible`)),
      right: queueEntries.map(([qid, q]) => maxOf(q.metricApproximateAgeOfOldestMessage(), `${qid} oldest`)),
    }),
    new GraphWidget({
      title: `${flowId}: dead-letter queue depth`,
      width: 4,
      height,
      left: deadLetters.map((d) => maxOf(d.queue.metricApproximateNumberOfMessagesVisible(), d.id)),
      leftAnnotations: [{ value: 1, label: 'alarm' }],
    }),
    new GraphWidget({
      title: `${flowId}: function errors and throttles (sum / 5 min)`,
      width: 4,
      height,
      left: functionEntries.flatMap(([fid, fn]) => [
        fn.metricErrors({ statistic: 'Sum', period: PERIOD, label: `${fid} errors` }),
        fn.metricThrottles({ statistic: 'Sum', period: PERIOD, label: `${fid} throttles` }),
      ]),
    }),
    new SingleValueWidget({
      title: `${flowId}: conflicts opened (time range)`,
      width: 2,
      height,
      metrics: [flowMetric(flowId, 'Conflicts', 'Sum', 'conflicts')],
      setPeriodToTimeRange: true,
    }),
    ...(manual
      ? [
          new SingleValueWidget({
            title: `${flowId}: open conflicts`,
            width: 2,
            height,
            // The latest 5-minute Maximum of the sweep's gauge, with its trend.
            metrics: [flowMetric(flowId, OPEN_CONFLICTS_METRIC, 'Maximum', 'open')],
            sparkline: true,
          }),
        ]
      : []),
  ];
}

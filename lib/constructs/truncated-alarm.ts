import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { flowMetric } from './flow-metrics';

/** Alarm on the `Truncated` metric of a flow with a Debezium source: any truncate event in a period, with its runbook. */
export function truncatedAlarm(scope: Construct, flowId: string, alarmName: string): Alarm {
  return new Alarm(scope, 'truncated', {
    alarmName,
    alarmDescription:
      `syncline ${flowId}: a Debezium source reported a truncated table (op "t"). ` +
      `With onTruncate "ignore" (the default) the flow's records of that table were kept; with "delete" they are being deleted (at the truncate's log position, so later changes stay). ` +
      `Look first at the capture function's decision log lines with outcome "truncated" (Logs Insights: filter outcome = "truncated"; the reason names the table and log position) and confirm the truncate was intended. ` +
      `If the records must go and onTruncate is "ignore", re-snapshot the table in the connector; if they were deleted by mistake, re-snapshot it to bring them back.`,
    metric: flowMetric(flowId, 'Truncated', 'Sum'),
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
}

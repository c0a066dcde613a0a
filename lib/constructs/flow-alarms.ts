import type { AlarmThresholds } from '../../functions/config/schema';
import { hasDebeziumSource, infersDeletes } from '../../functions/plan/flow-traits';
import { Alarm, type CfnAlarm, ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { deadLettersOf, flowMetric, LAG_METRIC, partialBatchFailures, PERIOD, type DeadLetter } from './flow-metrics';
import type { SyncFlow } from './sync-flow';
import { truncatedAlarm } from './truncated-alarm';

/** Over the threshold in 2 of the last 3 five-minute periods; no data (nothing ran) is not a breach. */
export const TWO_OF_THREE_PERIODS = {
  comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
  evaluationPeriods: 3,
  datapointsToAlarm: 2,
  treatMissingData: TreatMissingData.NOT_BREACHING,
} as const;

/** CloudWatch takes an alarm description of at most 1,024 characters. */
export const MAX_ALARM_DESCRIPTION = 1024;

/** A runbook cut to what CloudWatch takes: long stack names and ids can push one past it, and the start matters most. */
export function fitDescription(text: string): string {
  return text.length <= MAX_ALARM_DESCRIPTION ? text : `${text.slice(0, MAX_ALARM_DESCRIPTION - 1)}…`;
}

/** An alarm that notifies `topic` on ALARM and on OK, its runbook cut to what CloudWatch takes. */
export function notifying(topic: ITopic): (alarm: Alarm) => Alarm {
  const action = new SnsAction(topic);
  return (alarm) => {
    const cfn = alarm.node.defaultChild as CfnAlarm;
    cfn.alarmDescription = fitDescription(cfn.alarmDescription ?? '');
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  };
}

/** Props of {@link FlowAlarms}. */
export interface FlowAlarmsProps {
  readonly flow: SyncFlow;
  /** Topic every alarm notifies (on ALARM and on OK). */
  readonly topic: ITopic;
  readonly thresholds: AlarmThresholds;
  /** Prefix of the alarm names, e.g. the stack name. */
  readonly namePrefix: string;
  /** Stack name given to the CLI in runbooks (`--stack`). */
  readonly stackName: string;
  /** Folder of the saved Logs Insights queries, named in runbooks. */
  readonly queryFolder: string;
}

/**
 * One flow's alarms, each with a one-paragraph runbook as its description: every DLQ not empty, lag p99 over the
 * threshold, the age of each queue's oldest message, a stream source's iterator age, each function's error rate and
 * batches with failed messages, a failed pull, a refused delete inference and a Debezium truncate. Created in the
 * flow's own stack (nested or not), so alarms do not count against the root stack's resources and need no cross-stack
 * reference.
 */
export class FlowAlarms extends Construct {
  /** DLQ-not-empty alarms by DLQ id (`dlq-<queue>`, `stream-failure-<source>`, `schedule-dlq-<source>`). */
  public readonly deadLetterAlarms: Readonly<Record<string, Alarm>>;
  public readonly lagAlarm: Alarm;
  /** Error-rate alarms by function plan id: invocations that failed as a whole (a throw, a timeout, out of memory). */
  public readonly errorRateAlarms: Readonly<Record<string, Alarm>>;
  /** By function plan id, for functions fed by a queue or stream: batches that failed some of their messages. */
  public readonly partialFailureAlarms: Readonly<Record<string, Alarm>>;
  /** By step queue id: the age of its oldest message, which grows when the step stops as well as when it lags. */
  public readonly queueAgeAlarms: Readonly<Record<string, Alarm>>;
  /** By DynamoDB stream source id: the iterator age of its capture function. */
  public readonly streamAgeAlarms: Readonly<Record<string, Alarm>>;
  /** The share of the flow's records quarantined (by capture, transform or resolve). */
  public readonly quarantineAlarm: Alarm;
  /** Present when the flow has a schedule source: a pull failed after its retries. */
  public readonly pullFailedAlarm: Alarm | undefined;
  /** Present when the flow has a full-mode schedule source with delete detection. */
  public readonly deleteRefusedAlarm: Alarm | undefined;
  /** A Debezium source reported a truncated table (flows with a `debezium` webhook source only). */
  public readonly truncatedAlarm: Alarm | undefined;
  /** The thresholds in effect for this flow. */
  public readonly thresholds: AlarmThresholds;

  constructor(scope: Construct, id: string, props: FlowAlarmsProps) {
    super(scope, id);
    const { flow, thresholds, stackName, queryFolder } = props;
    this.thresholds = thresholds;
    const flowId = flow.flowPlan.flow.id;
    const name = (suffix: string) => `${props.namePrefix}-${flowId}-${suffix}`;
    const notify = notifying(props.topic);
    const consumerOf = (queueId: string) =>
      flow.flowPlan.functions.find((f) => f.trigger.type === 'sqs' && f.trigger.queue === queueId)?.id ?? queueId;
    const errorsQuery = `"${queryFolder}/${flowId}/errors by flow and step"`;

    const ruleQueues = new Set(flow.flowPlan.eventRules.map((r) => r.queue));
    const dlqAlarms: Record<string, Alarm> = {};
    for (const d of deadLettersOf(flow)) {
      dlqAlarms[d.id] = notify(
        new Alarm(this, d.id, {
          alarmName: name(d.id),
          alarmDescription: dlqRunbook(flowId, d, d.kind === 'step' ? consumerOf(d.of) : `capture-${d.of}`, stackName, errorsQuery, ruleQueues.has(d.of)),
          metric: d.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    this.deadLetterAlarms = dlqAlarms;

    this.lagAlarm = notify(
      new Alarm(this, 'lag-p99', {
        alarmName: name('lag-p99'),
        alarmDescription:
          `syncline ${flowId}: the p99 of ${LAG_METRIC} (source ts to delivery) was over ${thresholds.lagP99Ms} ms in 2 of the last 3 five-minute periods. ` +
          `Look first at the flow's dashboard row: the step whose queue depth and age of oldest message grow is the one falling behind, and its function's errors and throttles say why. ` +
          `Usual causes: a slow, failing or rate-limited target (check DeliveryFailed and the deliver function's logs), Lambda concurrency limits, or old records sent again (a backfill, a replay, a first full pull, a source catching up), whose lag counts from their source time: that raises lag without a fault and clears by itself. ` +
          `Fix the slow step (target capacity, rateLimitPerSecond, reserved concurrency, batch size); the threshold is alarms.lagP99Ms in the config.`,
        metric: flowMetric(flowId, LAG_METRIC, 'p99'),
        threshold: thresholds.lagP99Ms,
        ...TWO_OF_THREE_PERIODS,
      }),
    );

    // Lag is measured on deliveries: a step that stops (throttled, its trigger disabled, every message failing)
    // delivers nothing and sends no lag at all. The age of the oldest message of its queue keeps growing instead.
    const ageAlarms: Record<string, Alarm> = {};
    for (const [qid, queue] of Object.entries(flow.queues)) {
      // One message failing a few times holds the age up for three visibility timeouts and a wait for its first
      // receive (SQS leaves a message out of the metric after its third receive): the threshold is at least that.
      const visibility = flow.flowPlan.queues.find((q) => q.id === qid)?.visibilityTimeoutSeconds ?? 0;
      const thresholdSeconds = Math.max(Math.round(thresholds.lagP99Ms / 1000), 3 * visibility + PERIOD.toSeconds());
      ageAlarms[qid] = notify(
        new Alarm(this, `queue-age-${qid}`, {
          alarmName: name(`queue-age-${qid}`),
          alarmDescription:
            `syncline ${flowId}: the oldest message of the ${qid} queue waited more than ${thresholdSeconds} s in 2 of the last 3 five-minute periods: the ${consumerOf(qid)} function is not keeping up, or not taking messages at all. ` +
            `Look first at that function's errors and throttles on the flow's dashboard row, and at its event source mapping (enabled, not throttled by reserved concurrency). ` +
            `A backlog from a backfill or a burst clears by itself; a rate-limited target drains at its rate. Fix the step (concurrency, target capacity, rateLimitPerSecond, batch size); the threshold is alarms.lagP99Ms in the config, and at least three visibility timeouts of the queue.`,
          metric: queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: PERIOD }),
          threshold: thresholdSeconds,
          ...TWO_OF_THREE_PERIODS,
        }),
      );
    }
    this.queueAgeAlarms = ageAlarms;

    // A stream source's function that falls behind (or stops) shows in its iterator age, long before MaximumRecordAge
    // sends the records to the on-failure queue.
    const iteratorAlarms: Record<string, Alarm> = {};
    for (const f of flow.flowPlan.functions) {
      if (f.trigger.type !== 'dynamodb-stream') continue;
      iteratorAlarms[f.sourceId!] = notify(
        new Alarm(this, `stream-age-${f.sourceId}`, {
          alarmName: name(`stream-age-${f.sourceId}`),
          alarmDescription:
            `syncline ${flowId}: the ${f.id} function read the newest records of its DynamoDB stream more than ${thresholds.lagP99Ms} ms after they were written (IteratorAge) in 2 of the last 3 five-minute periods. ` +
            `Look first at its errors and throttles on the flow's dashboard row: a failing batch is retried, holding its shard back. ` +
            `A burst of writes to the source table clears by itself. Records older than the stream's record age go to the source's on-failure queue, which raises its own alarm; the threshold is alarms.lagP99Ms in the config.`,
          metric: flow.functions[f.id]!.metric('IteratorAge', { statistic: 'Maximum', period: PERIOD }),
          threshold: thresholds.lagP99Ms,
          ...TWO_OF_THREE_PERIODS,
        }),
      );
    }
    this.streamAgeAlarms = iteratorAlarms;

    // Quarantine fails no message, so no other alarm sees a source that starts sending what the flow refuses (a
    // changed schema, a renamed field). Quarantined per 100 Captured: a record the transform or resolve refuses was
    // captured, so that is its share; one capture refuses was not, so a period of those alone reads 100. At or over
    // the threshold, so 100 can fire. Both counts are published only when not zero: FILL makes a period without one a 0.
    this.quarantineAlarm = notify(
      new Alarm(this, 'quarantined', {
        alarmName: name('quarantined'),
        alarmDescription:
          `syncline ${flowId}: ${thresholds.quarantinePercent} or more records were quarantined per 100 captured in 2 of the last 3 five-minute periods (Quarantined / Captured). ` +
          `Usually a source changed what it sends (a new or renamed field, a type, a missing timestamp or key) or a config change refuses what passed before. ` +
          `Look first at the reasons: npx syncline quarantine list ${flowId} --stack ${stackName}, or the Logs Insights query "${queryFolder}/${flowId}/quarantine reasons (last hour)". ` +
          `Fix the source or the transform (schema, rename, timestampField) and deploy, then send the records through again: npx syncline quarantine replay ${flowId} --all --stack ${stackName} (records resolve refused as too large come back with their source's next change after a transform change). The threshold is alarms.quarantinePercent in the config.`,
        metric: new MathExpression({
          expression: 'IF(FILL(captured, 0) > 0, 100 * FILL(quarantined, 0) / FILL(captured, 0), IF(FILL(quarantined, 0) > 0, 100, 0))',
          usingMetrics: { captured: flowMetric(flowId, 'Captured', 'Sum'), quarantined: flowMetric(flowId, 'Quarantined', 'Sum') },
          label: `${flowId} quarantined per 100 captured`,
          period: PERIOD,
        }),
        threshold: thresholds.quarantinePercent,
        ...TWO_OF_THREE_PERIODS,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      }),
    );

    // A pull that failed (the source unreachable, refusing, or answering what cannot be read) counts PullFailed and
    // returns: nothing else would tell that a flow has stopped receiving.
    this.pullFailedAlarm = flow.flowPlan.functions.some((f) => f.handler === 'schedule-capture')
      ? notify(
          new Alarm(this, 'pull-failed', {
            alarmName: name('pull-failed'),
            alarmDescription:
              `syncline ${flowId}: a scheduled pull failed after its retries (PullFailed). ` +
              `Look first at the schedule-capture function's warnings with the Logs Insights query ${errorsQuery}: they name the source, the request and its answer (an expired or revoked credential, a moved or unreachable endpoint, a rate limit, an answer that is not the JSON or CSV expected). ` +
              `Fix the source's credentials (its secret) or config and deploy; run the pull at once with npx syncline pull ${flowId} <source> --stack ${stackName}, or wait for the next one. The alarm clears after a period without failures.`,
            metric: flowMetric(flowId, 'PullFailed', 'Sum'),
            threshold: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          }),
        )
      : undefined;

    const errorAlarms: Record<string, Alarm> = {};
    for (const [fid, fn] of Object.entries(flow.functions)) {
      errorAlarms[fid] = notify(
        new Alarm(this, `error-rate-${fid}`, {
          alarmName: name(`error-rate-${fid}`),
          alarmDescription:
            `syncline ${flowId}: more than ${thresholds.errorRatePercent}% of the ${fid} function's invocations failed as a whole (an error thrown, a timeout, out of memory) in 2 of the last 3 five-minute periods. ` +
            `Look first at its errors with the Logs Insights query ${errorsQuery} and at its X-Ray traces. ` +
            `Failed SQS messages are retried and then parked in the step's DLQ (which raises its own alarm); a failed stream batch is bisected, then sent to the on-failure queue. ` +
            `Fix the cause (a bug, a missing permission, an unreachable target, a wrong secret value) and deploy, then move parked messages back: npx syncline redrive ${flowId} --stack ${stackName} (or the SQS console's "Start DLQ redrive").`,
          metric: new MathExpression({
            expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
            usingMetrics: {
              errors: fn.metricErrors({ statistic: 'Sum', period: PERIOD }),
              invocations: fn.metricInvocations({ statistic: 'Sum', period: PERIOD }),
            },
            label: `${fid} error rate (%)`,
            period: PERIOD,
          }),
          threshold: thresholds.errorRatePercent,
          ...TWO_OF_THREE_PERIODS,
        }),
      );
    }
    this.errorRateAlarms = errorAlarms;

    // A batch function that fails some messages returns normally, so Lambda's Errors never sees it: the function
    // publishes whether each batch invocation failed messages (PartialBatchFailures, 0 or 1, by FunctionName).
    const partialAlarms: Record<string, Alarm> = {};
    for (const f of flow.flowPlan.functions) {
      if (f.trigger.type !== 'sqs' && f.trigger.type !== 'dynamodb-stream') continue;
      const fn = flow.functions[f.id]!;
      const failedBatches = partialBatchFailures(flowId, fn.functionName);
      partialAlarms[f.id] = notify(
        new Alarm(this, `failed-messages-${f.id}`, {
          alarmName: name(`failed-messages-${f.id}`),
          alarmDescription:
            `syncline ${flowId}: more than ${thresholds.errorRatePercent}% of the ${f.id} function's batches failed some of their messages in 2 of the last 3 five-minute periods. ` +
            `Look first at its warnings, which name the failed messages and why, with the Logs Insights query ${errorsQuery}. ` +
            (f.trigger.type === 'sqs'
              ? `Failed messages are received again, up to 5 times, then parked in the step's DLQ (which raises its own alarm). `
              : `Failed stream records are retried, then sent to the source's on-failure queue (which raises its own alarm). `) +
            `A throttled or briefly unreachable store or target clears by itself; otherwise fix the cause (a missing permission, an unreachable target, a wrong secret value), deploy, then move parked messages back: npx syncline redrive ${flowId} --stack ${stackName}.`,
          metric: new MathExpression({
            expression: 'IF(invocations > 0, 100 * failed / invocations, 0)',
            usingMetrics: { failed: failedBatches, invocations: fn.metricInvocations({ statistic: 'Sum', period: PERIOD }) },
            label: `${f.id} batches with failed messages (%)`,
            period: PERIOD,
          }),
          threshold: thresholds.errorRatePercent,
          ...TWO_OF_THREE_PERIODS,
        }),
      );
    }
    this.partialFailureAlarms = partialAlarms;

    this.deleteRefusedAlarm = infersDeletes(flow.flowPlan.flow)
      ? notify(
          new Alarm(this, 'delete-inference-refused', {
            alarmName: name('delete-inference-refused'),
            alarmDescription:
              `syncline ${flowId}: a full pull of a schedule source found more known keys absent than maxDeleteRatio allows, so it refused to infer deletes and deleted nothing. ` +
              `Usually the source answered with a partial list (an outage, a changed filter or permission, a truncated export). ` +
              `Look first at the capture function's "delete inference refused" log line (absent and known counts) and the pull's audit entries in the audit table. ` +
              `If the source is wrong, fix it: the next complete pull infers deletes normally. If the records really were deleted, accept them once: npx syncline pull ${flowId} <source> --accept-deletes --stack ${stackName}; or raise deletes.maxDeleteRatio.`,
            metric: flowMetric(flowId, 'DeleteInferenceRefused', 'Sum'),
            threshold: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          }),
        )
      : undefined;

    this.truncatedAlarm = hasDebeziumSource(flow.flowPlan.flow) ? notify(truncatedAlarm(this, flowId, name('truncated'))) : undefined;
  }
}

function dlqRunbook(flowId: string, d: DeadLetter, consumer: string, stackName: string, errorsQuery: string, ruleTarget = false): string {
  switch (d.kind) {
    case 'step':
      return (
        `syncline ${flowId}: messages wait in the dead-letter queue of the ${d.of} queue. Each failed its maximum receives in the ${consumer} function while the rest of its batch went on. ` +
        (ruleTarget
          ? `It is also the dead-letter queue of the EventBridge rule that feeds ${d.of}: a message with ERROR_CODE and ERROR_MESSAGE attributes is an event the rule could not put in the queue (its policy, its key, throttling), and a redrive puts it there. `
          : '') +
        `Look first at that function's errors (Logs Insights query ${errorsQuery}) and at the messages themselves (SQS console, Poll for messages). ` +
        `Fix the cause (a bug, a target refusing writes, a missing permission, a config that needs a deploy), then move the messages back: npx syncline redrive ${flowId} --step ${d.of} --stack ${stackName} (or the SQS console's "Start DLQ redrive"). ` +
        `Redriving is safe: merges and deliveries are idempotent. The alarm clears when the queue is empty.`
      );
    case 'stream':
      return (
        `syncline ${flowId}: the DynamoDB stream mapping of source ${d.of} gave up on a batch (retries or record age exhausted) and sent its shard and sequence range here; those changes were not captured. ` +
        `Look first at the ${consumer} function's errors (Logs Insights query ${errorsQuery}). ` +
        `These messages are pointers, not records, so redrive does not apply: fix the cause, re-capture the affected items (write them again in the source table, or the whole table: npx syncline backfill ${flowId} --source ${d.of} --stack ${stackName}), then delete the messages (SQS console, Purge). The alarm clears when the queue is empty.`
      );
    case 'schedule':
      return (
        `syncline ${flowId}: a pull of source ${d.of} did not run or failed: EventBridge Scheduler could not invoke the pull function after its retries, or the function failed (a queue or state error) after Lambda's. ` +
        `Look first at the messages: Scheduler's carry ERROR_CODE and ERROR_MESSAGE attributes, Lambda's a responsePayload with the error (SQS console, Poll for messages); then at the ${consumer} function's errors and throttles. ` +
        `Fix the cause (throttling, a deleted or failing function, permissions), run the pull now (npx syncline pull ${flowId} ${d.of} --stack ${stackName}) or wait for the next schedule, then purge the queue. The alarm clears when it is empty.`
      );
  }
}

import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  type CfnAlarm,
  ComparisonOperator,
  Dashboard,
  MathExpression,
  type IWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { QueryDefinition, QueryString, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { SAVED_QUERIES, SAVED_QUERY_IDS, logGroupParts, type SavedQueryId } from './saved-queries';

export { MAX_LOG_GROUPS_PER_QUERY, SAVED_QUERIES, logGroupParts, type SavedQueryId } from './saved-queries';
import type { AlarmThresholds } from '../../functions/config/schema';
import { truncatedAlarm } from './truncated-alarm';
import { flowRow } from './dashboard-row';
import type { SyncFlow } from './sync-flow';
import { deadLettersOf, flowMetric, LAG_METRIC, partialBatchFailures, PERIOD, type DeadLetter } from './flow-metrics';

/** Over the threshold in 2 of the last 3 five-minute periods; no data (nothing ran) is not a breach. */
const TWO_OF_THREE_PERIODS = {
  comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
  evaluationPeriods: 3,
  datapointsToAlarm: 2,
  treatMissingData: TreatMissingData.NOT_BREACHING,
} as const;

/** Thresholds used when the config gives none (the schema's defaults). */
export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = { lagP99Ms: 300_000, errorRatePercent: 5 };

export { deadLettersOf, flowMetric, flowServiceName, LAG_METRIC, OPEN_CONFLICTS_METRIC, OUTCOME_METRICS, PULL_METRICS } from './flow-metrics';

/** Whether a flow can refuse a delete inference: a full-mode `schedule` source with delete detection on. */
function infersDeletes(flow: SyncFlow): boolean {
  return flow.flowPlan.flow.sources.some((s) => s.type === 'schedule' && s.mode === 'full' && s.deletes?.enabled !== false);
}

/** CloudWatch takes an alarm description of at most 1,024 characters. */
export const MAX_ALARM_DESCRIPTION = 1024;

/** A runbook cut to what CloudWatch takes: long stack names and ids can push one past it, and the start matters most. */
export function fitDescription(text: string): string {
  return text.length <= MAX_ALARM_DESCRIPTION ? text : `${text.slice(0, MAX_ALARM_DESCRIPTION - 1)}…`;
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
 * One flow's alarms, each with a one-paragraph runbook as its description: every DLQ not empty, lag p99 over
 * the threshold, each function's error rate, and a refused delete inference. Created in the flow's own stack
 * (nested or not), so alarms do not count against the root stack's resources and need no cross-stack reference.
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
    const action = new SnsAction(props.topic);
    const notify = (alarm: Alarm) => {
      const cfn = alarm.node.defaultChild as CfnAlarm;
      cfn.alarmDescription = fitDescription(cfn.alarmDescription ?? '');
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      return alarm;
    };
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

    this.deleteRefusedAlarm = infersDeletes(flow)
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

    const debezium = flow.flowPlan.flow.sources.some((s) => s.type === 'webhook' && s.format === 'debezium');
    this.truncatedAlarm = debezium ? notify(truncatedAlarm(this, flowId, name('truncated'))) : undefined;
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

/** Props of {@link Observability}. */
export interface ObservabilityProps {
  /** The stack's flows by flow id (flows in nested stacks included). */
  readonly flows: Readonly<Record<string, SyncFlow>>;
  /**
   * Email address subscribed to the alarm topic (the recipient confirms it once).
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly alarmEmail?: string;
  /**
   * Thresholds of every flow; a flow's own `alarms` config overrides them field by field.
   * @default DEFAULT_ALARM_THRESHOLDS
   */
  readonly thresholds?: AlarmThresholds;
  /**
   * Log groups of the stack's own functions (not of a flow), given an errors query of their own.
   * @default - none
   */
  readonly stackLogGroups?: readonly ILogGroup[];
  /**
   * The HTTP API of the webhooks and admin routes: alarmed on its 5xx answers, which also count what no function
   * saw fail (a throttled function, a 30 s integration timeout).
   * @default - no API alarm
   */
  readonly httpApi?: IHttpApi;
}

/**
 * CloudWatch for a SyncStack: an alarm topic (TLS only), a dashboard with a row per flow, the flows' alarms
 * (see {@link FlowAlarms}) and saved Logs Insights queries over every function's log group (in each flow's stack). Create it once, in
 * the root stack; metrics of flows in nested stacks reach the dashboard through nested-stack references.
 */
export class Observability extends Construct {
  public readonly topic: Topic;
  /** The first of {@link dashboards}, named after the stack. */
  public readonly dashboard: Dashboard;
  /** Dashboards with a row per flow: `<stack>-<region>`, then `<stack>-<region>-2` and so on when the rows pass 500 widgets. */
  public readonly dashboards: readonly Dashboard[];
  /** The HTTP API answered 5xx to more than `alarms.errorRatePercent` % of its requests (when given the API). */
  public readonly apiServerErrorAlarm: Alarm | undefined;
  /** Alarms by flow id (each in the flow's own stack). */
  public readonly alarms: Readonly<Record<string, FlowAlarms>>;
  /** Saved queries by kind: one per flow (`syncline/<stack>/<flow>/<name>`, in parts of at most 50 log groups), and the stack's errors query. */
  public readonly queries: Readonly<Record<SavedQueryId, readonly QueryDefinition[]>>;
  /** Folder of the saved queries in the Logs Insights console: `syncline/<stack>` (a subfolder per flow). */
  public readonly queryFolder: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const base = props.thresholds ?? DEFAULT_ALARM_THRESHOLDS;
    const flows = Object.values(props.flows);
    this.queryFolder = `syncline/${stackName}`;

    // Not KMS-encrypted on purpose: CloudWatch cannot publish to a topic under the AWS-managed key alias/aws/sns
    // (its key policy cannot grant CloudWatch), and alarm notifications carry no record data, only alarm names,
    // states, thresholds and runbooks. TLS-only publishing is enforced by the topic policy.
    // SNS takes a display name of at most 100 characters; a stack name may have 128.
    const displayName = `syncline alarms (${stackName})`;
    this.topic = new Topic(this, 'AlarmTopic', { displayName: displayName.slice(0, 100), enforceSSL: true });
    // The topic policy replaces SNS's default one, which is what lets CloudWatch publish in the same account
    // (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger): allow this stack's alarms only.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AlarmsOfThisStackPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:${stackName}-*` },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const alarms: Record<string, FlowAlarms> = {};
    for (const flow of flows) {
      const flowId = flow.flowPlan.flow.id;
      const own = flow.flowPlan.flow.alarms ?? {};
      const thresholds: AlarmThresholds = {
        lagP99Ms: own.lagP99Ms ?? base.lagP99Ms,
        errorRatePercent: own.errorRatePercent ?? base.errorRatePercent,
      };
      // A child of the flow, so it lives in the flow's stack; only the topic ARN crosses into a nested stack.
      alarms[flowId] = new FlowAlarms(flow, 'Alarms', { flow, topic: this.topic, thresholds, namePrefix: stackName, stackName, queryFolder: this.queryFolder });
    }
    this.alarms = alarms;

    // A dashboard takes at most 500 widgets, so rows beyond that go to `<stack>-2`, `<stack>-3` and so on.
    const pages: IWidget[][][] = [[]];
    let widgets = 0;
    for (const flow of flows) {
      const row = flowRow(flow, alarms[flow.flowPlan.flow.id]);
      if (widgets + row.length > MAX_DASHBOARD_WIDGETS && pages.at(-1)!.length > 0) {
        pages.push([]);
        widgets = 0;
      }
      pages.at(-1)!.push(row);
      widgets += row.length;
    }
    // Dashboard names are global to the account: the region keeps one stack name deployable in several regions.
    const dashboardName = `${stackName}-${Stack.of(this).region}`;
    this.dashboards = pages.map(
      (rows, i) =>
        new Dashboard(this, i === 0 ? 'Dashboard' : `Dashboard${i + 1}`, {
          dashboardName: i === 0 ? dashboardName : `${dashboardName}-${i + 1}`,
          defaultInterval: Duration.hours(3),
          widgets: rows,
        }),
    );
    this.dashboard = this.dashboards[0]!;

    // The dashboard reaches flows of nested stacks through outputs of those stacks; CloudFormation
    // allows 200 outputs a stack, so say so at synth rather than at deploy.
    for (const stack of new Set(flows.map((f) => Stack.of(f)))) {
      if (stack !== Stack.of(this)) stack.node.addValidation({ validate: () => outputLimitProblems(stack) });
    }

    // One set of queries per flow, over every log group of the flow (its admin function's too), in parts of at most
    // 50 groups (Logs Insights' limit per query); the stack's own functions (the flow list) have their own errors query.
    const queries: Record<SavedQueryId, QueryDefinition[]> = { historyOfKey: [], quarantineReasons: [], errorsByStep: [], slowestDeliveries: [] };
    const define = (scope: Construct, prefix: string, groups: ILogGroup[], ids: readonly SavedQueryId[]) => {
      const parts = logGroupParts(groups);
      for (const qid of ids) {
        const { name, query } = SAVED_QUERIES[qid];
        parts.forEach((logGroups, i) => {
          const suffix = parts.length > 1 ? ` (part ${i + 1} of ${parts.length})` : '';
          queries[qid].push(new QueryDefinition(scope, `${qid}${i > 0 ? `-${i + 1}` : ''}`, { queryDefinitionName: `${prefix}/${name}${suffix}`, queryString: new QueryString(query), logGroups }));
        });
      }
    };
    for (const flow of flows) {
      // In the flow's own stack, like its alarms: the root template grows by none of it.
      const groups = [...Object.values(flow.functions).map((fn) => fn.logGroup), flow.adminFunction.logGroup];
      define(new Construct(flow, 'Queries'), `${this.queryFolder}/${flow.flowPlan.flow.id}`, groups, SAVED_QUERY_IDS);
    }
    if (props.httpApi) {
      const errorRatePercent = base.errorRatePercent;
      this.apiServerErrorAlarm = new Alarm(this, 'api-5xx', {
        alarmName: `${stackName}-api-5xx`,
        alarmDescription: fitDescription(
          `syncline ${stackName}: more than ${errorRatePercent}% of the HTTP API's requests (webhooks and admin routes) were answered 5xx in 2 of the last 3 five-minute periods. ` +
            `Senders retry a 5xx, so nothing is lost while they do, but a sender gives up in the end. ` +
            `Look first at the error-rate alarms and errors of the capture functions (a failed queue write fails the request, answered 500), then at their throttles and durations (API Gateway gives up on a function after 30 s). ` +
            `Fix the cause (permissions, reserved concurrency, a slow dependency) and deploy; the threshold is alarms.errorRatePercent in the config.`,
        ),
        metric: new MathExpression({
          expression: 'IF(requests > 0, 100 * errors / requests, 0)',
          // HTTP API metrics by ApiId alone (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html).
          usingMetrics: {
            errors: props.httpApi.metricServerError({ statistic: 'Sum', period: PERIOD }),
            requests: props.httpApi.metricCount({ statistic: 'Sum', period: PERIOD }),
          },
          label: 'HTTP API 5xx (%)',
          period: PERIOD,
        }),
        threshold: errorRatePercent,
        ...TWO_OF_THREE_PERIODS,
      });
      const action = new SnsAction(this.topic);
      this.apiServerErrorAlarm.addAlarmAction(action);
      this.apiServerErrorAlarm.addOkAction(action);
    }

    if (props.stackLogGroups?.length) define(new Construct(this, 'Queries-stack'), this.queryFolder, [...props.stackLogGroups], ['errorsByStep']);
    this.queries = queries;
  }
}

/** CloudWatch takes at most 500 widgets in one dashboard body. */
export const MAX_DASHBOARD_WIDGETS = 500;

/** CloudFormation refuses a template with more than 200 outputs. */
const MAX_OUTPUTS = 200;
function outputLimitProblems(stack: Stack): string[] {
  const count = stack.node.findAll().filter((c) => c instanceof CfnOutput && Stack.of(c) === stack).length;
  return count > MAX_OUTPUTS
    ? [`${stack.node.path} has ${count} outputs (most feed the root stack's dashboard), over CloudFormation's limit of ${MAX_OUTPUTS}: lower flowsPerStack`]
    : [];
}

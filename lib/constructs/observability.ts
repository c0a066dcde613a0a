import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import { Alarm, Dashboard, MathExpression, type IWidget } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { QueryDefinition, QueryString, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { SAVED_QUERIES, SAVED_QUERY_IDS, logGroupParts, type SavedQueryId } from './saved-queries';
import type { AlarmThresholds } from '../../functions/config/schema';
import { flowRow } from './dashboard-row';
import type { SyncFlow } from './sync-flow';
import { FlowAlarms, notifying, TWO_OF_THREE_PERIODS } from './flow-alarms';
import { PERIOD } from './flow-metrics';

export { SAVED_QUERIES, logGroupParts } from './saved-queries';
export { FlowAlarms, type FlowAlarmsProps } from './flow-alarms';

/** Thresholds used when the config gives none (the schema's defaults). */
export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = { lagP99Ms: 300_000, errorRatePercent: 5, quarantinePercent: 5 };

export { deadLettersOf, flowMetric, flowServiceName, OPEN_CONFLICTS_METRIC, OUTCOME_METRICS } from './flow-metrics';

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
        quarantinePercent: own.quarantinePercent ?? base.quarantinePercent,
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
      this.apiServerErrorAlarm = notifying(this.topic)(
        new Alarm(this, 'api-5xx', {
          alarmName: `${stackName}-api-5xx`,
          alarmDescription:
            `syncline ${stackName}: more than ${errorRatePercent}% of the HTTP API's requests (webhooks and admin routes) were answered 5xx in 2 of the last 3 five-minute periods. ` +
            `Senders retry a 5xx, so nothing is lost while they do, but a sender gives up in the end. ` +
            `Look first at the error-rate alarms and errors of the capture functions (a failed queue write fails the request, answered 500), then at their throttles and durations (API Gateway gives up on a function after 30 s). ` +
            `Fix the cause (permissions, reserved concurrency, a slow dependency) and deploy; the threshold is alarms.errorRatePercent in the config.`,
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
        }),
      );
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
    ? [`${stack.node.path} has ${count} outputs (most feed the root stack's dashboard), over CloudFormation's limit of ${MAX_OUTPUTS}: before the first deploy, lower flowsPerStack; once deployed, pin flows with flowStacks and move others to a new nested stack`]
    : [];
}

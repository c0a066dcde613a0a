import { Annotations, CfnOutput, CfnResource, Duration, NestedStack, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnIntegration, CfnRoute, HttpApi, HttpMethod, HttpRoute, HttpRouteKey, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { SynclineConfig } from '../../functions/config/schema';
import { Observability } from '../constructs/observability';
import { flowListBundling } from '../constructs/function-bundling';
import { projectEntry, SynclineFunction } from '../constructs/function-defaults';
import { DEFAULT_PROJECT_ROOT, SyncFlow } from '../constructs/sync-flow';
import { STREAM_ARN } from '../constructs/stream-source';
import { SyncStore } from '../constructs/sync-store';
import { ADMIN_ENTRY_FILES, plan } from '../../functions/plan/plan';
import { piiKeyFields } from '../../functions/core/transform/pii-taint';
import { asSynthProblem } from './synth-problem';

/** Props of {@link SyncStack}. */
export interface SyncStackProps extends StackProps {
  /** The validated config (from `loadConfig`). */
  readonly config: SynclineConfig;
  /**
   * Folder holding `functions/` and `package-lock.json`.
   * @default - the syncline repository root
   */
  readonly projectRoot?: string;
  /**
   * Steady-state request rate limit of the webhook API (requests per second); over it the API answers 429.
   * @default 100
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst limit of the webhook API.
   * @default 200
   */
  readonly throttleBurstLimit?: number;
}

/** One HTTP API, one SyncStore and one SyncFlow per configured flow. */
/** The context key of CDK's estimate of an ARN's length when it splits a role's policy (aws-iam PolicyStatement). */
const ARN_SIZE_ESTIMATE = '@aws-cdk/aws-iam.arnSizeEstimate';

export class SyncStack extends Stack {
  public readonly store: SyncStore;
  public readonly httpApi: HttpApi;
  public readonly stage: HttpStage;
  /** Flows by flow id. */
  public readonly flows: Readonly<Record<string, SyncFlow>>;
  /** Nested stacks holding the flows beyond the first `flowsPerStack` or pinned there by `flowStacks`, in order (empty when all fit in this stack). */
  public readonly nestedStacks: readonly NestedStack[];
  /** Alarm topic, dashboard, per-flow alarms and saved Logs Insights queries. */
  public readonly observability: Observability;
  /** The function behind `GET /flows` (IAM-authorized): the stack's flows, baked in at synth. */
  public readonly flowListFunction: SynclineFunction;
  /** The `GET /flows` route. */
  public readonly flowListRoute: HttpRoute;

  constructor(scope: Construct, id: string, props: SyncStackProps) {
    super(scope, id, props);
    // CDK moves a role's statements into managed policies past IAM's 10,240 characters by an estimate of 150 per ARN;
    // a store table's ARN of a long stack name takes about 216, so an inline policy could pass the limit at deploy.
    // 260 leaves room for the longest partitions and regions. A value in the app's context is kept.
    if (this.node.tryGetContext(ARN_SIZE_ESTIMATE) === undefined) this.node.setContext(ARN_SIZE_ESTIMATE, 260);
    const { config } = props;
    const topology = plan(config);
    // Retained, except a resource whose creation failed: a failed first deploy leaves no named secret behind to block the next.
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;

    this.store = new SyncStore(this, 'Store', { removalPolicy });

    this.httpApi = new HttpApi(this, 'Api', {
      description: describeFlows('syncline webhooks of', config.flows.map((f) => f.id)),
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 100, burstLimit: props.throttleBurstLimit ?? 200 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTimeEpoch',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
            error: '$context.error.message',
          }),
        ),
      },
    });
    new CfnOutput(this, 'ApiEndpoint', { description: 'syncline webhook API base URL', value: this.httpApi.apiEndpoint });

    // The first flowsPerStack flows live in this stack and the rest in nested stacks of that size, so
    // appending a flow never moves existing flows (and their tables) to another stack; flowStacks pins a flow to one.
    const flows: Record<string, SyncFlow> = {};
    const nested = new Map<number, NestedStack>();
    const per = config.flowsPerStack;
    const pins = config.flowStacks ?? {};
    const groups = topology.flows.map((fp, i) => (Object.hasOwn(pins, fp.flow.id) ? pins[fp.flow.id]! : Math.floor(i / per)));
    topology.flows.forEach((flowPlan, i) => {
      let scope: Construct = this;
      const group = groups[i]!;
      if (group > 0) {
        if (!nested.has(group)) {
          const members = topology.flows.filter((_, j) => groups[j] === group).map((fp) => fp.flow.id);
          nested.set(group, new NestedStack(this, `Flows${group}`, { description: describeFlows('syncline flows', members) }));
        }
        scope = nested.get(group)!;
      }
      try {
        flows[flowPlan.flow.id] = new SyncFlow(scope, `Flow-${flowPlan.flow.id}`, {
          flowPlan,
          store: this.store,
          httpApi: this.httpApi,
          projectRoot: props.projectRoot,
          removalPolicy,
        });
      } catch (err) {
        throw asSynthProblem(err, flowPlan.flow.id);
      }
    });
    this.flows = flows;
    this.nestedStacks = [...nested.entries()].sort(([a], [b]) => a - b).map(([, stack]) => stack);

    // GET /flows: a small function with the flow list baked in, so it needs no permission beyond its logs.
    const projectRoot = props.projectRoot ?? DEFAULT_PROJECT_ROOT;
    this.flowListFunction = new SynclineFunction(this, 'ListFlows', {
      description: 'syncline: admin API GET /flows (IAM-authorized)',
      ...projectEntry(projectRoot, ADMIN_ENTRY_FILES['list-flows']),
      timeout: Duration.seconds(10),
      memorySize: 128,
      logGroupRemovalPolicy: removalPolicy,
      environment: { POWERTOOLS_SERVICE_NAME: 'syncline-admin', API_ENDPOINT: this.httpApi.apiEndpoint },
      bundling: flowListBundling(config.flows),
    });
    this.flowListRoute = new HttpRoute(this, 'ListFlowsRoute', {
      httpApi: this.httpApi,
      routeKey: HttpRouteKey.with('/flows', HttpMethod.GET),
      integration: new HttpLambdaIntegration('ListFlowsIntegration', this.flowListFunction),
      authorizer: new HttpIamAuthorizer(),
    });
    new CfnOutput(this, 'AdminApiUrl', {
      description: 'syncline admin API base URL (IAM-authorized routes under /flows; sign with SigV4, service execute-api)',
      value: `${this.httpApi.apiEndpoint}/flows`,
    });
    new CfnOutput(this, 'ApiId', { description: 'syncline HTTP API id (for execute-api:Invoke policies on the admin routes)', value: this.httpApi.apiId });
    this.observability = new Observability(this, 'Observability', { flows, alarmEmail: config.alarmEmail, thresholds: config.alarms, stackLogGroups: [this.flowListFunction.logGroup], httpApi: this.httpApi });
    for (const s of [this, ...this.nestedStacks]) s.node.addValidation({ validate: () => resourceLimitProblems(s, per) });
    this.node.addValidation({ validate: () => apiLimitProblems(this) });
    for (const [table, readers] of streamReaders(config)) {
      if (readers.length > 2) {
        Annotations.of(this).addWarningV2(
          'syncline:stream-readers',
          `${readers.length} sources read the DynamoDB stream of table ${table} (${readers.join(', ')}); DynamoDB Streams serves at most 2 readers of a shard at once and throttles the rest, so their captures fall behind (stream-age alarms) and records may age out: read it from at most 2 flows, counting any other reader the table has`,
        );
      }
    }
    for (const flow of config.flows) {
      for (const { key, raw } of piiKeyFields(flow)) {
        Annotations.of(this).addWarningV2(
          'syncline:pii-key',
          `flow "${flow.id}": key field "${key}" carries PII field "${raw}" unmasked; a record's key names it in audit entries, lineage, logs, ConflictOpened events and the state item's key, so the value rests there as it is: mask "${key}" with "hash" to keep it out`,
        );
      }
    }
    const routes = this.node.findAll().filter((c) => c instanceof CfnRoute).length;
    if (routes > DEFAULT_API_ROUTES) {
      Annotations.of(this).addWarningV2('syncline:api-routes', `the HTTP API has ${routes} routes; API Gateway takes ${DEFAULT_API_ROUTES} unless the account's quota "Routes per API" was raised, else the deploy fails: split the config into stacks (another stackName)`);
    }
  }
}

/**
 * Every flow's routes and integrations are on the one HTTP API, which takes 300 integrations (a hard limit) and
 * 300 routes (a quota that can be raised): https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
 */
const MAX_API_INTEGRATIONS = 300;
const DEFAULT_API_ROUTES = 300;
function apiLimitProblems(stack: SyncStack): string[] {
  const integrations = stack.node.findAll().filter((c) => c instanceof CfnIntegration).length;
  return integrations > MAX_API_INTEGRATIONS
    ? [`the HTTP API has ${integrations} integrations (one per webhook source, one per flow and one for GET /flows), over the ${MAX_API_INTEGRATIONS} API Gateway takes: split the config into two stacks (another stackName)`]
    : [];
}

/**
 * A description naming flows, within the 1,024 characters that both a stack's and an HTTP API's description take
 * (the API Gateway v2 model: `StringWithLengthBetween0And1024`): the ids that fit, then how many more.
 */
export function describeFlows(prefix: string, ids: readonly string[], max = 1024): string {
  const whole = `${prefix} ${ids.join(', ')}`;
  if (whole.length <= max) return whole;
  for (let shown = ids.length - 1; shown >= 0; shown--) {
    const text = `${prefix} ${[...ids.slice(0, shown), `${ids.length - shown} more`].join(', ')}`;
    if (text.length <= max) return text;
  }
  return prefix.slice(0, max);
}

/** CloudFormation refuses a template with more than 500 resources; say so at synth, with the fix. */
const MAX_RESOURCES = 500;
function resourceLimitProblems(stack: Stack, flowsPerStack: number): string[] {
  const count = stack.node.findAll().filter((c) => CfnResource.isCfnResource(c) && Stack.of(c) === stack).length;
  return count > MAX_RESOURCES
    ? [`${stack.node.path} has ${count} resources, over CloudFormation's limit of ${MAX_RESOURCES}: before the first deploy, lower flowsPerStack (now ${flowsPerStack}); once deployed, pin flows that must stay with flowStacks and move others to a new nested stack (flowStacks), or to a second config with another stackName`]
    : [];
}

/** The `<flow>/<source>` ids of the dynamodb-stream sources, by the table whose stream they read. */
export function streamReaders(config: SynclineConfig): Map<string, string[]> {
  const readers = new Map<string, string[]>();
  for (const flow of config.flows) {
    for (const s of flow.sources) {
      if (s.type !== 'dynamodb-stream') continue;
      const table = s.streamArn ? (STREAM_ARN.exec(s.streamArn)?.[2] ?? s.streamArn) : s.tableName!;
      readers.set(table, [...(readers.get(table) ?? []), `${flow.id}/${s.id}`]);
    }
  }
  return readers;
}

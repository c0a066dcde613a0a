import { join, resolve } from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { HttpMethod, HttpRoute, HttpRouteKey, type IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Rule, type EventPattern } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import type { Schedule } from 'aws-cdk-lib/aws-scheduler';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FlowConfig } from '../config/schema';
import { pushdownFilter } from '../../functions/core/capture/stream-filter-pushdown';
import type { DeployedNames } from '../../functions/entry/deployed-resources';
import {
  ADMIN_ENTRY_FILES,
  ENTRY_FILES,
  UnsupportedError,
  conflictEventBus,
  planFlow,
  unsupportedTypes,
  type DynamoDbStreamTriggerPlan,
  type FlowPlan,
  type FunctionPlan,
  type QueuePlan,
} from '../plan/plan';
import { addConflictSweepSchedule } from './conflict-sweep';
import { addScheduleTrigger } from './schedule-source';
import { SynclineFunction } from './function-defaults';
import { AUDIT_TIME_INDEX, CONFLICT_OPEN_INDEX, PAYLOAD_CLAIM_PREFIX, type SyncStore } from './sync-store';

/**
 * Item-level actions on the table itself. Unlike `ITable.grant`, it leaves out `<table>/index/*`, which writes
 * never need, so no wildcard resource appears.
 */
function grantOnTable(table: ITable, grantee: IGrantable, ...actions: string[]): Grant {
  return Grant.addToPrincipal({ grantee, actions, resourceArns: [table.tableArn] });
}

/** The repository root: entry files and package-lock.json are resolved against it. */
export const DEFAULT_PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

/** Metrics namespace every function publishes to (Powertools EMF). */
export const METRICS_NAMESPACE = 'Syncline';

/** Props of {@link SyncFlow}. Give exactly one of `flowPlan` or `flow`. */
export interface SyncFlowProps {
  /**
   * The flow's topology from `plan()`.
   * @default - computed from `flow` with `planFlow`
   */
  readonly flowPlan?: FlowPlan;
  /**
   * The validated flow config; refused together with `flowPlan`.
   * @default - taken from `flowPlan`
   */
  readonly flow?: FlowConfig;
  /** Shared state, audit, quarantine, conflict and dedup tables, and the hash-key secret. */
  readonly store: SyncStore;
  /** The HTTP API that receives webhooks; the flow adds its `POST /webhooks/...` routes to it. */
  readonly httpApi: IHttpApi;
  /**
   * Folder holding `functions/` and `package-lock.json`.
   * @default - the syncline repository root
   */
  readonly projectRoot?: string;
  /**
   * Removal policy of the target tables, webhook secrets and log groups the flow creates.
   * @default - the store's removal policy (RETAIN unless configured otherwise)
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * One flow's pipeline: capture, transform, resolve and deliver functions joined by SQS queues (each with a
 * DLQ), webhook routes and secrets, and the target tables the flow creates. Every function gets only the
 * permissions its step needs. Constructs wire resources; the functions decide.
 */
export class SyncFlow extends Construct {
  public readonly flowPlan: FlowPlan;
  /** Functions by plan id: `capture-<source>`, `transform`, `resolve`, `deliver-<target>`, and `conflict-sweep` (manual flows). */
  public readonly functions: Readonly<Record<string, SynclineFunction>>;
  /** Queues by plan id: `transform`, `resolve`, `deliver-<target>`. */
  public readonly queues: Readonly<Record<string, Queue>>;
  /** Dead-letter queues by the plan id of the queue they serve. */
  public readonly deadLetterQueues: Readonly<Record<string, Queue>>;
  /** Webhook signing secrets by source id (the value, prefixed with `whsec_`, is the Standard Webhooks secret). */
  public readonly webhookSecrets: Readonly<Record<string, Secret>>;
  /** DynamoDB target tables (created or imported) by target id. */
  public readonly targetTables: Readonly<Record<string, ITable>>;
  /** Buckets of `s3` targets (created when the config names none, else imported) by target id. */
  public readonly targetBuckets: Readonly<Record<string, IBucket>>;
  /** Target buckets this flow created, by target id. */
  public readonly createdTargetBuckets: Readonly<Record<string, Bucket>>;
  /** Credentials of `http` targets (imported by name) by target id. */
  public readonly targetSecrets: Readonly<Record<string, ISecret>>;
  /** The `POST /webhooks/...` routes the flow added to the HTTP API. */
  public readonly routes: readonly HttpRoute[];
  /** Webhook URLs by source id (the per-source route). */
  public readonly webhookUrls: Readonly<Record<string, string>>;
  /** Source tables of `dynamodb-stream` sources (imported, with their stream ARN) by source id. */
  public readonly sourceTables: Readonly<Record<string, ITable>>;
  /** On-failure destinations of the stream mappings (`<flow>-capture-<source>-dlq`) by source id. */
  public readonly streamFailureQueues: Readonly<Record<string, Queue>>;
  /** Dead-letter queues of the EventBridge Scheduler schedules of `schedule` sources, by source id. */
  public readonly scheduleDeadLetterQueues: Readonly<Record<string, Queue>>;
  /** Deploy-time stream ARN lookups of `dynamodb-stream` sources given by `tableName`, by source id. */
  public readonly streamArnLookups: Readonly<Record<string, AwsCustomResource>>;
  /** EventBridge rules of `eventbridge` sources by source id. */
  public readonly eventRules: Readonly<Record<string, Rule>>;
  /** The schedule of the conflict sweep (flows with the manual strategy). */
  public readonly conflictSweepSchedule: Schedule | undefined;
  /** The flow's admin API function (`GET|POST /flows/<flow>...`, IAM-authorized). */
  public readonly adminFunction: SynclineFunction;
  /** The IAM-authorized admin routes the flow added to the HTTP API. */
  public readonly adminRoutes: readonly HttpRoute[];

  constructor(scope: Construct, id: string, props: SyncFlowProps) {
    super(scope, id);
    if (props.flowPlan && props.flow) throw new Error('SyncFlow: give either flowPlan or flow, not both');
    if (!props.flowPlan && !props.flow) throw new Error('SyncFlow: give flowPlan or flow');
    if (props.flow) {
      const problems = unsupportedTypes({ flows: [props.flow] } as Parameters<typeof unsupportedTypes>[0]);
      if (problems.length) throw new UnsupportedError(problems);
    }
    const flowPlan = props.flowPlan ?? planFlow(props.flow as FlowConfig);
    this.flowPlan = flowPlan;
    const flow = flowPlan.flow;
    const { store } = props;
    const projectRoot = resolve(props.projectRoot ?? DEFAULT_PROJECT_ROOT);
    const removalPolicy = props.removalPolicy ?? store.removalPolicy;

    const consumerOf = (queueId: string): FunctionPlan | undefined =>
      flowPlan.functions.find((f) => f.trigger.type === 'sqs' && f.trigger.queue === queueId);

    // Queues, each with its DLQ.
    const queues: Record<string, Queue> = {};
    const dlqs: Record<string, Queue> = {};
    for (const q of flowPlan.queues) {
      const { queue, dlq } = this.makeQueue(q, consumerOf(q.id));
      queues[q.id] = queue;
      dlqs[q.id] = dlq;
    }
    this.queues = queues;
    this.deadLetterQueues = dlqs;

    // Inbound queues of sqs and eventbridge sources: their URL is an output, and a rule feeds each eventbridge one.
    const eventRules: Record<string, Rule> = {};
    for (const q of flowPlan.queues) {
      if (!q.sourceId) continue;
      new CfnOutput(this, `inbound-queue-url-${q.sourceId}`, {
        description: `syncline ${flow.id}/${q.sourceId}: inbound queue URL (a record or a JSON array of records per message)`,
        value: queues[q.id].queueUrl,
      });
    }
    for (const r of flowPlan.eventRules) {
      const rule = new Rule(this, `rule-${r.sourceId}`, {
        description: `syncline ${flow.id}/${r.sourceId}: events of bus ${r.busName} to the inbound queue`,
        eventBus: EventBus.fromEventBusName(this, `bus-${r.sourceId}`, r.busName),
        // The config pattern is raw EventBridge syntax; Rule renders unknown keys as they are.
        eventPattern: r.pattern as EventPattern,
      });
      // The SqsQueue target adds a queue policy for events.amazonaws.com conditioned on this rule's ARN.
      rule.addTarget(new SqsQueue(queues[r.queue], { deadLetterQueue: dlqs[r.queue] }));
      eventRules[r.sourceId] = rule;
    }
    this.eventRules = eventRules;

    // Webhook secrets, one per webhook source.
    const secrets: Record<string, Secret> = {};
    for (const s of flowPlan.webhookSecrets) {
      secrets[s.sourceId] = new Secret(this, `webhook-secret-${s.sourceId}`, {
        description: `syncline ${flow.id}/${s.sourceId}: webhook signing secret; use it as whsec_<value> (Standard Webhooks)`,
        // 32 base64-alphabet characters decode to a 24-byte HMAC key, so whsec_<value> is a valid secret.
        generateSecretString: { passwordLength: 32, excludePunctuation: true },
        removalPolicy,
      });
    }
    this.webhookSecrets = secrets;

    // Target tables: imported when the config names one, created otherwise.
    const targetTables: Record<string, ITable> = {};
    for (const t of flowPlan.targetTables) {
      if (t.existing) {
        targetTables[t.targetId] = t.existing.startsWith('arn:')
          ? Table.fromTableArn(this, `target-${t.targetId}`, t.existing)
          : Table.fromTableName(this, `target-${t.targetId}`, t.existing);
      } else {
        targetTables[t.targetId] = new Table(this, `target-${t.targetId}`, {
          partitionKey: { name: t.keyAttribute, type: AttributeType.STRING },
          billingMode: BillingMode.PAY_PER_REQUEST,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          encryption: TableEncryption.AWS_MANAGED,
          removalPolicy,
        });
      }
    }
    this.targetTables = targetTables;

    // S3 target buckets: imported by name, or created private, encrypted, TLS-only and versioned.
    const targetBuckets: Record<string, IBucket> = {};
    const createdBuckets: Record<string, Bucket> = {};
    const targetSecrets: Record<string, ISecret> = {};
    for (const t of flow.targets) {
      if (t.type === 's3') {
        if (t.bucket) targetBuckets[t.id] = Bucket.fromBucketName(this, `target-${t.id}`, t.bucket);
        else {
          createdBuckets[t.id] = new Bucket(this, `target-${t.id}`, {
            encryption: BucketEncryption.S3_MANAGED,
            enforceSSL: true,
            blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
            objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned: true,
            removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
          });
          targetBuckets[t.id] = createdBuckets[t.id]!;
        }
      } else if (t.type === 'http' && t.secretName) {
        targetSecrets[t.id] = Secret.fromSecretNameV2(this, `target-secret-${t.id}`, t.secretName);
      }
    }
    this.targetBuckets = targetBuckets;
    this.createdTargetBuckets = createdBuckets;
    this.targetSecrets = targetSecrets;

    // Functions.
    const sourceTables: Record<string, ITable> = {};
    const streamFailureQueues: Record<string, Queue> = {};
    const streamArnLookups: Record<string, AwsCustomResource> = {};
    const scheduleDlqs: Record<string, Queue> = {};
    let sweepSchedule: Schedule | undefined;
    const functions: Record<string, SynclineFunction> = {};
    const routes: HttpRoute[] = [];
    const tableEnv: Record<string, string> = {
      STATE_TABLE: store.state.tableName,
      AUDIT_TABLE: store.audit.tableName,
      QUARANTINE_TABLE: store.quarantine.tableName,
      CONFLICT_TABLE: store.conflicts.tableName,
      DEDUP_TABLE: store.dedup.tableName,
    };
    for (const f of flowPlan.functions) {
      const entry = ENTRY_FILES[f.handler];
      if (!entry) throw new Error(`SyncFlow: flow "${flow.id}" function "${f.id}" has no entry file for handler "${f.handler}"`);
      const fn = new SynclineFunction(this, f.id, {
        description: `syncline ${flow.id}: ${f.step}${f.sourceId ? ` (source ${f.sourceId})` : ''}${f.targetId ? ` (target ${f.targetId})` : ''}`,
        entry: join(projectRoot, entry),
        projectRoot,
        depsLockFilePath: join(projectRoot, 'package-lock.json'),
        timeout: Duration.seconds(f.timeoutSeconds),
        memorySize: f.memoryMb,
        ...(f.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: f.reservedConcurrency } : {}),
        logGroupRemovalPolicy: removalPolicy,
        environment: {
          ...tableEnv,
          POWERTOOLS_SERVICE_NAME: `syncline-${flow.id}`,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          ...this.stepEnvironment(f, queues, secrets, targetTables, store, dlqs),
          ...(this.claimUse(f).size > 0 ? { PAYLOAD_BUCKET: store.payloadBucket.bucketName } : {}),
        },
        // The flow config is compiled into the bundle: environment variables are limited to 4 KB.
        bundling: { define: { __SYNCLINE_FLOW__: JSON.stringify(flow) } },
      });
      functions[f.id] = fn;
      this.grantStep(f, fn, queues, secrets, targetTables, store);
      if (f.trigger.type === 'sqs') {
        fn.addEventSource(
          new SqsEventSource(queues[f.trigger.queue], {
            batchSize: f.trigger.batchSize,
            maxBatchingWindow: Duration.seconds(f.trigger.maxBatchingWindowSeconds),
            reportBatchItemFailures: true,
          }),
        );
      } else if (f.trigger.type === 'dynamodb-stream') {
        this.addStreamTrigger(f, f.trigger, fn, sourceTables, streamFailureQueues, streamArnLookups);
      } else if (f.handler === 'conflict-sweep') {
        sweepSchedule = addConflictSweepSchedule(this, fn, flowPlan, f);
      } else if (f.trigger.type === 'schedule') {
        // The scheduler (and what the pull needs beyond the capture basics) is wired by ./schedule-source.
        scheduleDlqs[f.sourceId as string] = addScheduleTrigger(this, fn, flowPlan, f, { stateTable: store.state }).deadLetterQueue;
      } else {
        const integration = new HttpLambdaIntegration(`${f.id}-integration`, fn);
        f.trigger.routes.forEach((path, i) => {
          routes.push(new HttpRoute(this, `${f.id}-route-${i}`, {
            httpApi: props.httpApi,
            routeKey: HttpRouteKey.with(path, HttpMethod.POST),
            integration,
          }));
        });
      }
    }
    this.functions = functions;
    this.routes = routes;
    this.sourceTables = sourceTables;
    this.streamFailureQueues = streamFailureQueues;
    this.streamArnLookups = streamArnLookups;
    this.scheduleDeadLetterQueues = scheduleDlqs;
    this.conflictSweepSchedule = sweepSchedule;

    // Outputs: where to point each webhook sender, and which secret signs it.
    const urls: Record<string, string> = {};
    for (const f of flowPlan.functions) {
      if (f.trigger.type !== 'http' || !f.sourceId) continue;
      urls[f.sourceId] = `${props.httpApi.apiEndpoint}${f.trigger.routes[0]}`;
      new CfnOutput(this, `webhook-url-${f.sourceId}`, {
        description: `syncline ${flow.id}/${f.sourceId}: webhook URL (POST, Standard Webhooks signature)`,
        value: urls[f.sourceId],
      });
    }
    for (const [sourceId, secret] of Object.entries(secrets)) {
      new CfnOutput(this, `webhook-secret-arn-${sourceId}`, {
        description: `syncline ${flow.id}/${sourceId}: ARN of the webhook signing secret`,
        value: secret.secretArn,
      });
    }
    this.webhookUrls = urls;

    const admin = this.addAdminApi(props.httpApi, store, projectRoot, removalPolicy, tableEnv);
    this.adminFunction = admin.fn;
    this.adminRoutes = admin.routes;
  }

  /**
   * The flow's admin API: one function serving `GET /flows/<flow>` and `GET|POST /flows/<flow>/{proxy+}` behind
   * IAM authorization, with the deployed names of the flow's resources in its environment: names only (URLs and
   * ARNs are built from the SQS prefixes, and DLQs read from each queue's RedrivePolicy), which keeps even a flow
   * with many targets inside Lambda's 4 KB of variables.
   */
  private addAdminApi(
    httpApi: IHttpApi,
    store: SyncStore,
    projectRoot: string,
    removalPolicy: RemovalPolicy,
    tableEnv: Record<string, string>,
  ): { fn: SynclineFunction; routes: HttpRoute[] } {
    const flow = this.flowPlan.flow;
    const stack = Stack.of(this);
    const names: DeployedNames = {
      queues: Object.fromEntries(Object.entries(this.queues).map(([id, q]) => [id, q.queueName])),
      functions: Object.fromEntries(Object.entries(this.functions).map(([id, fn]) => [id, fn.functionName])),
      targetTables: Object.fromEntries(Object.entries(this.targetTables).map(([id, t]) => [id, t.tableName])),
      webhookSecrets: Object.fromEntries(Object.entries(this.webhookSecrets).map(([id, s]) => [id, s.secretArn])),
      streamFailureQueues: Object.fromEntries(Object.entries(this.streamFailureQueues).map(([id, q]) => [id, q.queueName])),
    };
    const fn = new SynclineFunction(this, 'admin', {
      description: `syncline ${flow.id}: admin API (IAM-authorized)`,
      entry: join(projectRoot, ADMIN_ENTRY_FILES.admin),
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      // API Gateway gives an integration at most 30 s.
      timeout: Duration.seconds(29),
      memorySize: 256,
      logGroupRemovalPolicy: removalPolicy,
      environment: {
        ...tableEnv,
        POWERTOOLS_SERVICE_NAME: `syncline-${flow.id}`,
        FLOW_RESOURCES: stack.toJsonString(names),
        SQS_URL_PREFIX: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/`,
        SQS_ARN_PREFIX: `arn:${stack.partition}:sqs:${stack.region}:${stack.account}:`,
        API_ENDPOINT: httpApi.apiEndpoint,
        HASH_KEY_SECRET_ARN: store.hashKeySecret.secretArn,
        PAYLOAD_BUCKET: store.payloadBucket.bucketName,
      },
      bundling: { define: { __SYNCLINE_FLOW__: JSON.stringify(flow) } },
    });

    // Least privilege, matching the adapters: state BatchGetItem; audit Query (lineage; the byFlowTime index for
    // status) and BatchWriteItem (who resolved); conflicts Query (all, closed; open ones through their index),
    // GetItem/UpdateItem (resolve, reopen); quarantine Query/DeleteItem (list, replay); resolutions to the resolve
    // queue, quarantine replays to the transform queue, record replays to each target's deliver queue; a dry run
    // (`try`) only reads state.
    grantOnTable(store.state, fn, 'dynamodb:BatchGetItem');
    Grant.addToPrincipal({ grantee: fn, actions: ['dynamodb:Query'], resourceArns: [store.audit.tableArn, `${store.audit.tableArn}/index/${AUDIT_TIME_INDEX}`] });
    grantOnTable(store.audit, fn, 'dynamodb:BatchWriteItem');
    Grant.addToPrincipal({ grantee: fn, actions: ['dynamodb:Query'], resourceArns: [store.conflicts.tableArn, `${store.conflicts.tableArn}/index/${CONFLICT_OPEN_INDEX}`] });
    grantOnTable(store.conflicts, fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    grantOnTable(store.quarantine, fn, 'dynamodb:Query', 'dynamodb:DeleteItem');
    this.queues.resolve!.grantSendMessages(fn);
    this.queues.transform!.grantSendMessages(fn);
    const deliverQueues = this.flowPlan.flow.targets.map((t) => this.queues[`deliver-${t.id}`]!);
    for (const q of deliverQueues) q.grantSendMessages(fn);
    // Status reads the depth of every queue, DLQ and stream on-failure queue of the flow (and each queue's RedrivePolicy).
    const senders = new Set([this.queues.resolve, this.queues.transform, ...deliverQueues]);
    for (const q of [...Object.values(this.queues), ...Object.values(this.deadLetterQueues), ...Object.values(this.streamFailureQueues)]) {
      if (!senders.has(q)) q.grant(fn, 'sqs:GetQueueAttributes');
    }
    // A reviewer's value is masked with the hash key; a resolution or replay over 250 KB goes by claim check.
    store.hashKeySecret.grantRead(fn);
    Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [store.payloadBucket.arnForObjects(`${PAYLOAD_CLAIM_PREFIX}*`)] });

    const authorizer = new HttpIamAuthorizer();
    // One invoke permission for the function (API-scoped) instead of one per route: only this flow's admin routes target it.
    const integration = new HttpLambdaIntegration('admin-integration', fn, { scopePermissionToRoute: false });
    const route = (id: string, path: string, method: HttpMethod) =>
      new HttpRoute(this, id, { httpApi, routeKey: HttpRouteKey.with(path, method), integration, authorizer });
    const routes = [
      route('admin-route-flow', `/flows/${flow.id}`, HttpMethod.GET),
      route('admin-route-get', `/flows/${flow.id}/{proxy+}`, HttpMethod.GET),
      route('admin-route-post', `/flows/${flow.id}/{proxy+}`, HttpMethod.POST),
    ];
    new CfnOutput(this, 'admin-url', {
      description: `syncline ${flow.id}: admin API (IAM-authorized, SigV4 service execute-api)`,
      value: `${httpApi.apiEndpoint}/flows/${flow.id}`,
    });
    return { fn, routes };
  }

  /**
   * A stream event source mapping with secure defaults: TRIM_HORIZON, bisect on error, bounded retries and
   * record age, an SQS on-failure destination, partial batch responses, and the source filter pushed down
   * where it can be expressed exactly. `grantStreamRead` (by the event source) is scoped to this stream.
   */
  private addStreamTrigger(
    f: FunctionPlan,
    trigger: DynamoDbStreamTriggerPlan,
    fn: SynclineFunction,
    sourceTables: Record<string, ITable>,
    failureQueues: Record<string, Queue>,
    lookups: Record<string, AwsCustomResource>,
  ): void {
    const sourceId = f.sourceId as string;
    let table: ITable;
    if (trigger.streamArn) {
      const m = /^(arn:[^:]+:dynamodb:[^:]*:[^:]*:table\/[^/]+)\/stream\/.+$/.exec(trigger.streamArn);
      if (!m) throw new Error(`SyncFlow: flow "${this.flowPlan.flow.id}" source "${sourceId}": streamArn must look like arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`);
      table = Table.fromTableAttributes(this, `source-${sourceId}`, { tableArn: m[1], tableStreamArn: trigger.streamArn });
    } else {
      // A stream ARN carries a creation label that only the table knows, and CDK synthesizes offline: read it with
      // DescribeTable when the stack deploys (re-read whenever the table name changes).
      const tableName = trigger.tableName as string;
      const tableArn = Stack.of(this).formatArn({ service: 'dynamodb', resource: 'table', resourceName: tableName });
      const lookup = new AwsCustomResource(this, `source-${sourceId}-stream-arn`, {
        onUpdate: {
          service: 'DynamoDB',
          action: 'describeTable',
          parameters: { TableName: tableName },
          physicalResourceId: PhysicalResourceId.of(`${tableName}-stream-arn`),
          outputPaths: ['Table.LatestStreamArn'],
        },
        policy: AwsCustomResourcePolicy.fromSdkCalls({ resources: [tableArn] }),
        installLatestAwsSdk: false,
      });
      lookups[sourceId] = lookup;
      table = Table.fromTableAttributes(this, `source-${sourceId}`, { tableName, tableStreamArn: lookup.getResponseField('Table.LatestStreamArn') });
    }
    sourceTables[sourceId] = table;
    // Backfill chunks (direct invocations) scan this table and read its item count for progress, nothing wider. A
    // source given by stream ARN is read by the table ARN that the stream ARN starts with (a table of another account too).
    grantOnTable(table, fn, 'dynamodb:Scan', 'dynamodb:DescribeTable');
    fn.addEnvironment('SOURCE_TABLE', trigger.streamArn ? table.tableArn : table.tableName);
    const onFailure = new Queue(this, `${f.id}-dlq`, {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      encryption: QueueEncryption.SQS_MANAGED,
    });
    failureQueues[sourceId] = onFailure;
    const { filters } = pushdownFilter(trigger.filter as Record<string, unknown> | undefined);
    fn.addEventSource(
      new DynamoEventSource(table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: trigger.batchSize,
        maxBatchingWindow: Duration.seconds(trigger.maxBatchingWindowSeconds),
        bisectBatchOnError: trigger.bisectBatchOnError,
        retryAttempts: trigger.retryAttempts,
        maxRecordAge: Duration.seconds(trigger.maxRecordAgeSeconds),
        onFailure: new SqsDlq(onFailure),
        reportBatchItemFailures: true,
        ...(filters.length > 0 ? { filters: filters.map((p) => FilterCriteria.filter(p as Record<string, unknown>)) } : {}),
      }),
    );
  }

  private makeQueue(q: QueuePlan, consumer: FunctionPlan | undefined): { queue: Queue; dlq: Queue } {
    if (consumer && q.visibilityTimeoutSeconds < 6 * consumer.timeoutSeconds) {
      throw new Error(
        `SyncFlow: queue ${q.name} has a visibility timeout of ${q.visibilityTimeoutSeconds}s, below 6 x its consumer's ${consumer.timeoutSeconds}s timeout`,
      );
    }
    const dlq = new Queue(this, `${q.id}-dlq`, {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      encryption: QueueEncryption.SQS_MANAGED,
    });
    const queue = new Queue(this, `${q.id}-queue`, {
      visibilityTimeout: Duration.seconds(q.visibilityTimeoutSeconds),
      enforceSSL: true,
      encryption: QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: dlq, maxReceiveCount: q.maxReceiveCount },
    });
    return { queue, dlq };
  }

  private stepEnvironment(
    f: FunctionPlan,
    queues: Record<string, Queue>,
    secrets: Record<string, Secret>,
    targetTables: Record<string, ITable>,
    store: SyncStore,
    dlqs: Record<string, Queue>,
  ): Record<string, string> {
    switch (f.step) {
      case 'capture':
        return {
          SOURCE_ID: f.sourceId as string,
          ...(f.handler === 'webhook-capture' ? { WEBHOOK_SECRET_ARN: secrets[f.sourceId as string].secretArn } : {}),
          TRANSFORM_QUEUE_URL: queues.transform.queueUrl,
        };
      case 'transform':
        return { RESOLVE_QUEUE_URL: queues.resolve.queueUrl, HASH_KEY_SECRET_ARN: store.hashKeySecret.secretArn };
      case 'resolve': {
        const urls = Object.fromEntries(f.sendsTo.map((qid) => [qid.replace(/^deliver-/, ''), queues[qid].queueUrl]));
        // Manual review: newly opened conflicts are announced (syncline.ConflictOpened) on the configured bus.
        const events: Record<string, string> = this.flowPlan.flow.conflict.strategy === 'manual' ? { EVENT_BUS_NAME: conflictEventBus(this.flowPlan.flow) } : {};
        return { DELIVER_QUEUE_URLS: Stack.of(this).toJsonString(urls), ...events };
      }
      case 'deliver':
        return this.deliverEnvironment(f, targetTables, dlqs);
      case 'review':
        return { RESOLVE_QUEUE_URL: queues.resolve.queueUrl };
    }
  }

  /** Environment of a delivery function: its target and where that target's writes go. */
  private deliverEnvironment(f: FunctionPlan, targetTables: Record<string, ITable>, dlqs: Record<string, Queue>): Record<string, string> {
    const targetId = f.targetId as string;
    const target = this.flowPlan.flow.targets.find((t) => t.id === targetId)!;
    const env: Record<string, string> = { TARGET_ID: targetId };
    if (target.type === 'dynamodb') return { ...env, TARGET_TABLE: targetTables[targetId].tableName };
    // Rejected records (e.g. HTTP 4xx) are parked in the delivery queue's DLQ at once.
    env.DLQ_URL = dlqs[`deliver-${targetId}`].queueUrl;
    if (target.type === 's3') env.TARGET_BUCKET = this.targetBuckets[targetId]!.bucketName;
    if (f.rateLimitPerInvocation !== undefined) env.RATE_LIMIT_PER_INVOCATION = String(f.rateLimitPerInvocation);
    return env;
  }

  /**
   * What a delivery function may touch beyond state and audit: its target only. A DynamoDB table (PutItem,
   * DeleteItem), the bucket's `prefix*` objects (PutObject), the bus (PutEvents), the queue (SendMessage, which
   * also authorizes SendMessageBatch) or the HTTP target's secret; and the DLQ where rejected records are parked.
   */
  private grantTarget(f: FunctionPlan, fn: SynclineFunction, targetTables: Record<string, ITable>): void {
    const targetId = f.targetId as string;
    const target = this.flowPlan.flow.targets.find((t) => t.id === targetId)!;
    if (target.type !== 'dynamodb') this.deadLetterQueues[`deliver-${targetId}`].grantSendMessages(fn);
    switch (target.type) {
      case 'dynamodb':
        grantOnTable(targetTables[targetId], fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
        break;
      case 's3':
        Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [this.targetBuckets[targetId]!.arnForObjects(`${target.prefix}*`)] });
        break;
      case 'eventbridge':
        Grant.addToPrincipal({ grantee: fn, actions: ['events:PutEvents'], resourceArns: [this.busArn(target.busName)] });
        break;
      case 'http':
        this.targetSecrets[targetId]?.grantRead(fn);
        break;
      case 'sqs':
        Grant.addToPrincipal({ grantee: fn, actions: ['sqs:SendMessage'], resourceArns: [target.queueArn] });
        break;
    }
  }

  /** The ARN of a bus given by name (in this account and region) or by ARN. */
  private busArn(nameOrArn: string): string {
    return nameOrArn.startsWith('arn:') ? nameOrArn : Stack.of(this).formatArn({ service: 'events', resource: 'event-bus', resourceName: nameOrArn });
  }

  /**
   * How a function uses the claim check: `put` when it sends to a syncline queue (or parks rejected records in a
   * delivery DLQ), `get` when it consumes one of syncline's own queues. Inbound queues of sqs and eventbridge
   * sources are written by users, within the SQS limit, and never carry claim checks.
   */
  claimUse(f: FunctionPlan): ReadonlySet<'put' | 'get'> {
    const use = new Set<'put' | 'get'>();
    const parks = f.step === 'deliver' && this.flowPlan.flow.targets.find((t) => t.id === f.targetId)?.type !== 'dynamodb';
    if (f.sendsTo.length > 0 || parks) use.add('put');
    if (f.trigger.type === 'sqs') {
      const queueId = f.trigger.queue;
      if (!this.flowPlan.queues.find((q) => q.id === queueId)?.sourceId) use.add('get');
    }
    return use;
  }

  /** Least privilege per step; the SQS event source already grants consuming the trigger queue. */
  private grantStep(
    f: FunctionPlan,
    fn: SynclineFunction,
    queues: Record<string, Queue>,
    secrets: Record<string, Secret>,
    targetTables: Record<string, ITable>,
    store: SyncStore,
  ): void {
    // Actions match the adapters in functions/adapters: audit and quarantine are appended with BatchWriteItem,
    // state is read with (Batch)GetItem and written with conditional UpdateItem, and the target writer runs a
    // TransactWriteItems whose parts (state UpdateItem, target PutItem/DeleteItem) are authorized one by one.
    const append = (table: ITable) => grantOnTable(table, fn, 'dynamodb:BatchWriteItem');
    for (const qid of f.sendsTo) queues[qid].grantSendMessages(fn);
    // Claim check (messages over 250 KB): senders write and consumers read `claims/*` of the payload bucket, nothing else.
    const claims = this.claimUse(f);
    if (claims.has('put')) Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [store.payloadBucket.arnForObjects(`${PAYLOAD_CLAIM_PREFIX}*`)] });
    if (claims.has('get')) Grant.addToPrincipal({ grantee: fn, actions: ['s3:GetObject'], resourceArns: [store.payloadBucket.arnForObjects(`${PAYLOAD_CLAIM_PREFIX}*`)] });
    switch (f.step) {
      case 'capture':
        append(store.audit);
        append(store.quarantine);
        if (f.handler === 'webhook-capture') {
          // Webhook ids are claimed with a conditional put and released when publishing fails.
          grantOnTable(store.dedup, fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
          secrets[f.sourceId as string].grantRead(fn);
        }
        // Stream and inbound-queue reads are granted by their event sources (a stream source's backfill scan by
        // addStreamTrigger); schedule pulls by ./schedule-source.
        break;
      case 'transform':
        append(store.audit);
        append(store.quarantine);
        store.hashKeySecret.grantRead(fn);
        break;
      case 'resolve':
        grantOnTable(store.state, fn, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem');
        grantOnTable(store.conflicts, fn, 'dynamodb:PutItem');
        append(store.audit);
        if (this.flowPlan.flow.conflict.strategy === 'manual') {
          Grant.addToPrincipal({ grantee: fn, actions: ['events:PutEvents'], resourceArns: [this.busArn(conflictEventBus(this.flowPlan.flow))] });
        }
        break;
      case 'review':
        // The sweep lists open conflicts (Query of their index only), settles or supersedes them with conditional
        // UpdateItems (re-read with GetItem when it loses), reads the records of due ones (BatchGetItem) to settle
        // only what they still hold, and sends each resolution to the resolve queue (granted through sendsTo above).
        Grant.addToPrincipal({ grantee: fn, actions: ['dynamodb:Query'], resourceArns: [`${store.conflicts.tableArn}/index/${CONFLICT_OPEN_INDEX}`] });
        grantOnTable(store.conflicts, fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
        grantOnTable(store.state, fn, 'dynamodb:BatchGetItem');
        append(store.audit);
        break;
      case 'deliver':
        grantOnTable(store.state, fn, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem');
        append(store.audit);
        this.grantTarget(f, fn, targetTables);
        break;
    }
  }
}

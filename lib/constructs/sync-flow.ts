import { resolve } from 'node:path';
import { Annotations, CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { HttpMethod, HttpRoute, HttpRouteKey, type IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Rule, type EventPattern } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import type { Schedule } from 'aws-cdk-lib/aws-scheduler';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { httpTargetAuth, type FlowConfig } from '../../functions/config/schema';
import { flowServiceName, METRICS_NAMESPACE, TABLE_ENV } from '../../functions/wiring/contract';
import { STORE_TABLES, ENTRY_FILES, UnsupportedError, planFlow, unsupportedTypes, type FlowPlan, type FunctionPlan, type QueuePlan } from '../../functions/plan/plan';
import { checkSourceBus } from './event-bus-check';
import { addConflictSweepSchedule } from './conflict-sweep';
import { fitEnvironment } from './environment-budget';
import { grantStep, type StepGrantContext } from './step-grants';
import { addAdminApi } from './admin-api';
import { stepEnvironment } from './step-environment';
import { addScheduleTrigger } from './schedule-source';
import { flowFunctionBundling } from './function-bundling';
import { projectEntry, SynclineFunction } from './function-defaults';
import type { StreamArnLookup } from './stream-arn-lookup';
import { addStreamTrigger } from './stream-source';
import type { SyncStore } from './sync-store';
import { DEFAULT_RULE_PATTERN_CHARS } from '../config/deep-validate';

/** The repository root: entry files and package-lock.json are resolved against it. */
export const DEFAULT_PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

/** Metrics namespace every function publishes to (Powertools EMF). */
export { METRICS_NAMESPACE } from '../../functions/wiring/contract';

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
   * @default - the store's removal policy (RETAIN_ON_UPDATE_OR_DELETE unless configured otherwise)
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
  public readonly streamArnLookups: Readonly<Record<string, StreamArnLookup>>;
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
      checkSourceBus(rule, flow.id, r.sourceId, r.busName);
      const chars = JSON.stringify(r.pattern).length;
      if (chars > DEFAULT_RULE_PATTERN_CHARS) {
        Annotations.of(rule).addWarningV2(
          'syncline:event-pattern-size',
          `flow "${flow.id}" source "${r.sourceId}": its pattern has ${chars} characters; EventBridge takes ${DEFAULT_RULE_PATTERN_CHARS} unless the account's quota "Event pattern size" was raised (up to 4,096), else the deploy fails`,
        );
      }
      // The SqsQueue target adds a queue policy for events.amazonaws.com conditioned on this rule's ARN.
      rule.addTarget(new SqsQueue(queues[r.queue], { deadLetterQueue: dlqs[r.queue] }));
      eventRules[r.sourceId] = rule;
    }
    this.eventRules = eventRules;

    // Webhook secrets, one per webhook source; sources that name the same secret share the one the first creates.
    const secrets: Record<string, Secret> = {};
    const byName = new Map<string, Secret>();
    for (const s of flowPlan.webhookSecrets) {
      const shared = s.named ? byName.get(s.name) : undefined;
      if (shared) {
        secrets[s.sourceId] = shared;
        continue;
      }
      const source = flow.sources.find((x) => x.id === s.sourceId);
      const scheme = source?.type === 'webhook' ? source.auth.type : 'standard-webhooks';
      secrets[s.sourceId] = new Secret(this, `webhook-secret-${s.sourceId}`, {
        ...(s.named ? { secretName: s.name } : {}),
        description:
          scheme === 'standard-webhooks'
            ? `syncline ${flow.id}/${s.sourceId}: webhook signing secret; use it as whsec_<value> (Standard Webhooks)`
            : `syncline ${flow.id}/${s.sourceId}: the sender's ${scheme} webhook secret; replace this generated value with the one the sender uses`,
        // 32 base64-alphabet characters decode to a 24-byte HMAC key, so whsec_<value> is a valid secret.
        generateSecretString: { passwordLength: 32, excludePunctuation: true },
        removalPolicy,
      });
      if (s.named) byName.set(s.name, secrets[s.sourceId]);
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
            removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
          });
          targetBuckets[t.id] = createdBuckets[t.id]!;
        }
      } else if (t.type === 'http' && httpTargetAuth(t)) {
        targetSecrets[t.id] = Secret.fromSecretNameV2(this, `target-secret-${t.id}`, httpTargetAuth(t)!.secretName);
      }
    }
    this.targetBuckets = targetBuckets;
    this.createdTargetBuckets = createdBuckets;
    this.targetSecrets = targetSecrets;

    // Functions.
    const sourceTables: Record<string, ITable> = {};
    const streamFailureQueues: Record<string, Queue> = {};
    const streamArnLookups: Record<string, StreamArnLookup> = {};
    const scheduleDlqs: Record<string, Queue> = {};
    let sweepSchedule: Schedule | undefined;
    const functions: Record<string, SynclineFunction> = {};
    const routes: HttpRoute[] = [];
    const tableEnv = Object.fromEntries(STORE_TABLES.map((t) => [TABLE_ENV[t.id], store.table(t.id).tableName]));
    for (const f of flowPlan.functions) {
      const entry = ENTRY_FILES[f.handler];
      if (!entry) throw new Error(`SyncFlow: flow "${flow.id}" function "${f.id}" has no entry file for handler "${f.handler}"`);
      const fn = new SynclineFunction(this, f.id, {
        description: `syncline ${flow.id}: ${f.step}${f.sourceId ? ` (source ${f.sourceId})` : ''}${f.targetId ? ` (target ${f.targetId})` : ''}`,
        ...projectEntry(projectRoot, entry),
        timeout: Duration.seconds(f.timeoutSeconds),
        memorySize: f.memoryMb,
        logGroupRemovalPolicy: removalPolicy,

        // The flow config is compiled into the bundle: environment variables are limited to 4 KB.
        bundling: flowFunctionBundling(flow, f),
      });
      functions[f.id] = fn;
      const environment = fitEnvironment(
        fn,
        {
          ...tableEnv,
          POWERTOOLS_SERVICE_NAME: flowServiceName(flow.id),
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          ...stepEnvironment(this.grantContext(store), f),
          ...(this.claimUse(f).size > 0 ? { PAYLOAD_BUCKET: store.payloadBucket.bucketName } : {}),
        },
        ['DELIVER_QUEUE_URLS'],
        `flow "${flow.id}" function "${f.id}"`,
      );
      for (const [k, v] of Object.entries(environment)) fn.addEnvironment(k, v);
      grantStep(this.grantContext(store), f, fn, this.claimUse(f));
      if (f.trigger.type === 'sqs') {
        fn.addEventSource(
          new SqsEventSource(queues[f.trigger.queue], {
            batchSize: f.trigger.batchSize,
            maxBatchingWindow: Duration.seconds(f.trigger.maxBatchingWindowSeconds),
            reportBatchItemFailures: true,
            // A rate-limited target: the poller starts at most this many invocations at once.
            ...(f.maxConcurrency !== undefined ? { maxConcurrency: f.maxConcurrency } : {}),
          }),
        );
      } else if (f.trigger.type === 'dynamodb-stream') {
        {
          const stream = addStreamTrigger(this, fn, { flowId: flow.id, sourceId: f.sourceId as string, functionId: f.id, trigger: f.trigger, projectRoot });
          sourceTables[f.sourceId as string] = stream.table;
          streamFailureQueues[f.sourceId as string] = stream.failureQueue;
          if (stream.lookup) streamArnLookups[f.sourceId as string] = stream.lookup;
        }
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

    const admin = addAdminApi(this, { httpApi: props.httpApi, store, projectRoot, removalPolicy, tableEnv, grants: this.grantContext(store) });
    this.adminFunction = admin.fn;
    this.adminRoutes = admin.routes;
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

  /**
   * How a function uses the claim check: `put` when it sends to another syncline queue (or parks rejected records in a
   * delivery DLQ), `get` when it consumes one of syncline's own queues. Inbound queues of sqs and eventbridge
   * sources are written by users, within the SQS limit, and never carry claim checks.
   */
  claimUse(f: FunctionPlan): ReadonlySet<'put' | 'get'> {
    const use = new Set<'put' | 'get'>();
    const parks = f.step === 'deliver' && this.flowPlan.flow.targets.find((t) => t.id === f.targetId)?.type !== 'dynamodb';
    // A record sent back to a function's own queue (split from a failed pack) already fits a message.
    const own = f.trigger.type === 'sqs' ? f.trigger.queue : undefined;
    if (f.sendsTo.some((q) => q !== own) || parks) use.add('put');
    if (f.trigger.type === 'sqs') {
      const queueId = f.trigger.queue;
      if (!this.flowPlan.queues.find((q) => q.id === queueId)?.sourceId) use.add('get');
    }
    return use;
  }

  /** What the grants of ./step-grants refer to. */
  private grantContext(store: SyncStore): StepGrantContext {
    return {
      scope: this,
      flow: this.flowPlan.flow,
      store,
      queues: this.queues,
      deadLetterQueues: this.deadLetterQueues,
      streamFailureQueues: this.streamFailureQueues ?? {},
      webhookSecrets: this.webhookSecrets,
      targetTables: this.targetTables,
      targetBuckets: this.targetBuckets,
      targetSecrets: this.targetSecrets,
    };
  }
}

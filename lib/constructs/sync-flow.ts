import { join, resolve } from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { HttpMethod, HttpRoute, HttpRouteKey, type IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FlowConfig } from '../config/schema';
import { ENTRY_FILES, UnsupportedError, planFlow, unsupportedTypes, type FlowPlan, type FunctionPlan, type QueuePlan } from '../plan/plan';
import { SynclineFunction } from './function-defaults';
import type { SyncStore } from './sync-store';

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
  /** Functions by plan id: `capture-<source>`, `transform`, `resolve`, `deliver-<target>`. */
  public readonly functions: Readonly<Record<string, SynclineFunction>>;
  /** Queues by plan id: `transform`, `resolve`, `deliver-<target>`. */
  public readonly queues: Readonly<Record<string, Queue>>;
  /** Dead-letter queues by the plan id of the queue they serve. */
  public readonly deadLetterQueues: Readonly<Record<string, Queue>>;
  /** Webhook signing secrets by source id (the value, prefixed with `whsec_`, is the Standard Webhooks secret). */
  public readonly webhookSecrets: Readonly<Record<string, Secret>>;
  /** DynamoDB target tables (created or imported) by target id. */
  public readonly targetTables: Readonly<Record<string, ITable>>;
  /** The `POST /webhooks/...` routes the flow added to the HTTP API. */
  public readonly routes: readonly HttpRoute[];
  /** Webhook URLs by source id (the per-source route). */
  public readonly webhookUrls: Readonly<Record<string, string>>;

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

    // Functions.
    const functions: Record<string, SynclineFunction> = {};
    const routes: HttpRoute[] = [];
    const tableEnv = {
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
        logGroupRemovalPolicy: removalPolicy,
        environment: {
          ...tableEnv,
          POWERTOOLS_SERVICE_NAME: `syncline-${flow.id}`,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          ...this.stepEnvironment(f, queues, secrets, targetTables, store),
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
  ): Record<string, string> {
    switch (f.step) {
      case 'capture':
        return {
          SOURCE_ID: f.sourceId as string,
          WEBHOOK_SECRET_ARN: secrets[f.sourceId as string].secretArn,
          TRANSFORM_QUEUE_URL: queues.transform.queueUrl,
        };
      case 'transform':
        return { RESOLVE_QUEUE_URL: queues.resolve.queueUrl, HASH_KEY_SECRET_ARN: store.hashKeySecret.secretArn };
      case 'resolve': {
        const urls = Object.fromEntries(f.sendsTo.map((qid) => [qid.replace(/^deliver-/, ''), queues[qid].queueUrl]));
        return { DELIVER_QUEUE_URLS: Stack.of(this).toJsonString(urls) };
      }
      case 'deliver':
        return { TARGET_ID: f.targetId as string, TARGET_TABLE: targetTables[f.targetId as string].tableName };
    }
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
    switch (f.step) {
      case 'capture':
        // Webhook ids are claimed with a conditional put and released when publishing fails.
        grantOnTable(store.dedup, fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
        append(store.audit);
        append(store.quarantine);
        secrets[f.sourceId as string].grantRead(fn);
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
        break;
      case 'deliver':
        grantOnTable(store.state, fn, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem');
        grantOnTable(targetTables[f.targetId as string], fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
        append(store.audit);
        break;
    }
  }
}

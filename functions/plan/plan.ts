import { parseDurationMs } from '../core/duration';
import type { FlowConfig, SourceType, SynclineConfig, TargetType } from '../config/schema';
import { STORE_TABLES, type TablePlan } from './store-tables';
import { SynclineError } from '../core/errors';
import { packedQueue } from './packed-queues';
import { isManualFlow } from './flow-traits';

export { NUMBER_KEY_ATTRIBUTES, STORE_TABLES, type TablePlan } from './store-tables';

/** Source and target types whose runtime exists; others are refused at synth and at `syncline dev`. */
export const SUPPORTED_SOURCES: ReadonlySet<SourceType> = new Set<SourceType>(['webhook', 'dynamodb-stream', 'schedule', 'sqs', 'eventbridge']);
export const SUPPORTED_TARGETS: ReadonlySet<TargetType> = new Set<TargetType>(['dynamodb', 's3', 'eventbridge', 'http', 'sqs']);

/** Pipeline steps, and `review`: the scheduled conflict sweep of manual flows. */
export type StepName = 'capture' | 'transform' | 'resolve' | 'deliver' | 'review';
/** Which handler a function runs; each has one entry file under functions/entry. */
export type HandlerKind =
  | 'webhook-capture'
  | 'dynamodb-stream-capture'
  | 'sqs-capture'
  | 'schedule-capture'
  | 'transform'
  | 'resolve'
  | 'deliver-dynamodb'
  | 'deliver-s3'
  | 'deliver-eventbridge'
  | 'deliver-http'
  | 'deliver-sqs'
  | 'conflict-sweep';

export const ENTRY_FILES: Readonly<Record<HandlerKind, string>> = {
  'webhook-capture': 'functions/entry/webhook-capture.ts',
  // Also serves eventbridge sources: their rule feeds the same kind of inbound queue.
  'sqs-capture': 'functions/entry/sqs-capture.ts',
  'dynamodb-stream-capture': 'functions/entry/dynamodb-stream-capture.ts',
  'schedule-capture': 'functions/entry/schedule-capture.ts',
  transform: 'functions/entry/transform.ts',
  resolve: 'functions/entry/resolve.ts',
  'deliver-dynamodb': 'functions/entry/deliver-dynamodb.ts',
  'deliver-s3': 'functions/entry/deliver-s3.ts',
  'deliver-eventbridge': 'functions/entry/deliver-eventbridge.ts',
  'deliver-http': 'functions/entry/deliver-http.ts',
  'deliver-sqs': 'functions/entry/deliver-sqs.ts',
  'conflict-sweep': 'functions/entry/conflict-sweeper.ts',
};

/**
 * Entry files of the functions that are no pipeline step: a flow's admin API (`admin`) and the stack's flow list
 * (`list-flows`), both behind IAM authorization on the HTTP API, and the deploy-time lookup of a source table's
 * stream ARN (`stream-arn-lookup`), a CloudFormation custom resource.
 */
export const ADMIN_ENTRY_FILES = {
  admin: 'functions/entry/admin.ts',
  'list-flows': 'functions/entry/list-flows.ts',
  'stream-arn-lookup': 'functions/entry/stream-arn-lookup.ts',
} as const;

export interface QueuePlan {
  /** Unique within the flow, e.g. `transform`, `resolve`, `deliver-replica`. */
  readonly id: string;
  /** Local name and CDK construct id: `<flow>-<id>`; the DLQ is `<name>-dlq`. */
  readonly name: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
  /** Set on a source's inbound queue (`inbound-<source>`, for `sqs` and `eventbridge` sources). */
  readonly sourceId?: string;
}

export type TriggerPlan =
  | { readonly type: 'http'; readonly routes: readonly string[] }
  | { readonly type: 'sqs'; readonly queue: string; readonly batchSize: number; readonly maxBatchingWindowSeconds: number }
  | DynamoDbStreamTriggerPlan
  | { readonly type: 'schedule'; readonly every?: string; readonly cron?: string };

/** A DynamoDB stream event source mapping (NEW_AND_OLD_IMAGES expected on the table's stream). */
export interface DynamoDbStreamTriggerPlan {
  readonly type: 'dynamodb-stream';
  /** The source table by name (the stack looks its stream ARN up at deploy; locally it is created with a stream). */
  readonly tableName?: string;
  /** The stream, for a table outside the stack. */
  readonly streamArn?: string;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  readonly startingPosition: 'TRIM_HORIZON';
  readonly bisectBatchOnError: true;
  readonly retryAttempts: number;
  readonly maxRecordAgeSeconds: number;
  /** Name of the on-failure queue that receives the metadata of batches given up on: `<flow>-capture-<source>-dlq`. */
  readonly onFailureQueue: string;
  /** The source's event pattern over the unmarshalled image (pushed down where possible, always applied in the handler). */
  readonly filter?: Readonly<Record<string, unknown>>;
}

/** An EventBridge rule that forwards matching events of a bus to a source's inbound queue. */
export interface EventRulePlan {
  readonly sourceId: string;
  readonly busName: string;
  readonly pattern: Readonly<Record<string, unknown>>;
  /** Plan id of the inbound queue: `inbound-<source>`. */
  readonly queue: string;
}

export interface FunctionPlan {
  /** Unique within the flow: `capture-<source>`, `transform`, `resolve`, `deliver-<target>`, `conflict-sweep`. */
  readonly id: string;
  readonly name: string;
  readonly step: StepName;
  readonly handler: HandlerKind;
  readonly sourceId?: string;
  readonly targetId?: string;
  readonly trigger: TriggerPlan;
  /** Queue ids this function sends to. */
  readonly sendsTo: readonly string[];
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /**
   * Most concurrent invocations the SQS event source mapping starts (rate-limited HTTP targets), so the per-invocation
   * limiter adds up to the target's rate. An SQS trigger ignores reserved concurrency (throttled invocations count
   * as receives and end in the DLQ), so the cap is the mapping's `MaximumConcurrency`, which is at least 2.
   */
  readonly maxConcurrency?: number;
  /** Requests per second each invocation may send (rate-limited HTTP targets): `rateLimitPerSecond / maxConcurrency`. */
  readonly rateLimitPerInvocation?: number;
}

export interface WebhookSecretPlan {
  readonly sourceId: string;
  /** Secrets Manager name in AWS: the source's `auth.secretName`, else `syncline/<flow>/<source>/webhook`. */
  readonly name: string;
  /** The name came from `auth.secretName`: locally it is read like any named secret; else `SYNCLINE_WEBHOOK_SECRET` serves it. */
  readonly named: boolean;
}

export interface TargetTablePlan {
  readonly targetId: string;
  /** Existing table name or ARN; undefined when the stack creates the table. */
  readonly existing?: string;
  /** Local name of a created table: `<flow>-<target>`. */
  readonly localName: string;
  readonly keyAttribute: string;
}

export interface FlowPlan {
  readonly flow: FlowConfig;
  readonly queues: readonly QueuePlan[];
  readonly functions: readonly FunctionPlan[];
  readonly webhookSecrets: readonly WebhookSecretPlan[];
  readonly targetTables: readonly TargetTablePlan[];
  /** One per `eventbridge` source. */
  readonly eventRules: readonly EventRulePlan[];
}

export interface Plan {
  readonly tables: readonly TablePlan[];
  readonly flows: readonly FlowPlan[];
}

const SQS_FUNCTION_TIMEOUT = 30;
/** Stream mapping bounds: a poison batch is bisected, retried this often, and given up on at this age. */
export const STREAM_RETRY_ATTEMPTS = 10;
export const STREAM_MAX_RECORD_AGE_SECONDS = 24 * 3600;
/** SQS visibility must be at least six times the consumer's timeout. */
const VISIBILITY = SQS_FUNCTION_TIMEOUT * 6;
export const MAX_RECEIVE_COUNT = 5;

export class UnsupportedError extends SynclineError {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'UnsupportedError';
  }
}

/** Problems for source/target types that syncline cannot run yet, each naming the flow and JSON path. */
export function unsupportedTypes(config: SynclineConfig): string[] {
  const problems: string[] = [];
  config.flows.forEach((flow, i) => {
    flow.sources.forEach((s, j) => {
      if (!SUPPORTED_SOURCES.has(s.type))
        problems.push(`flow "${flow.id}" at $.flows[${i}].sources[${j}].type: source type "${s.type}" is not available yet (available: ${[...SUPPORTED_SOURCES].join(', ')})`);
    });
    flow.targets.forEach((t, j) => {
      if (!SUPPORTED_TARGETS.has(t.type))
        problems.push(`flow "${flow.id}" at $.flows[${i}].targets[${j}].type: target type "${t.type}" is not available yet (available: ${[...SUPPORTED_TARGETS].join(', ')})`);
    });
  });
  return problems;
}

function queue(flow: string, id: string, sourceId?: string, visibility = VISIBILITY): QueuePlan {
  return { id, name: `${flow}-${id}`, visibilityTimeoutSeconds: visibility, maxReceiveCount: MAX_RECEIVE_COUNT, ...(sourceId ? { sourceId } : {}) };
}

/** Most invocations a rate-limited HTTP target runs at once; each gets `rate / concurrency` requests a second. */
export const HTTP_MAX_CONCURRENCY = 10;
/** The least `MaximumConcurrency` an SQS event source mapping takes. */
export const SQS_MIN_MAX_CONCURRENCY = 2;
/** Requests one invocation of a rate-limited HTTP target should send at most (about 10 s of its share of the rate). */
const HTTP_BATCH_SECONDS = 10;

/**
 * How a delivery function runs: batch size, timeout and, for a rate-limited HTTP target, a mapping concurrency of
 * `ceil(rate / 10)` (at least 2, at most 10) with a per-invocation token bucket of `rate / concurrency`, and a batch
 * small enough to send within about 10 s at that pace.
 */
export function deliverySizing(target: FlowConfig['targets'][number]): {
  batchSize: number;
  timeoutSeconds: number;
  maxConcurrency?: number;
  rateLimitPerInvocation?: number;
} {
  if (target.type !== 'http') return { batchSize: 50, timeoutSeconds: SQS_FUNCTION_TIMEOUT };
  // Room for the time budget of the batch (20 s) plus one request's timeout.
  const timeoutSeconds = Math.max(SQS_FUNCTION_TIMEOUT, 20 + Math.ceil(target.timeoutMs / 1000) + 5);
  if (target.rateLimitPerSecond === undefined) return { batchSize: 50, timeoutSeconds };
  const maxConcurrency = Math.min(HTTP_MAX_CONCURRENCY, Math.max(SQS_MIN_MAX_CONCURRENCY, Math.ceil(target.rateLimitPerSecond / 10)));
  const rateLimitPerInvocation = target.rateLimitPerSecond / maxConcurrency;
  const batchSize = Math.min(50, Math.max(1, Math.floor(rateLimitPerInvocation * HTTP_BATCH_SECONDS)));
  return { batchSize, timeoutSeconds, maxConcurrency, rateLimitPerInvocation };
}

/** Below this `autoResolveAfter`, the conflict sweep of a manual flow runs every minute instead of every 5. */
export const FAST_SWEEP_BELOW_MS = 10 * 60_000;

/**
 * How often a manual flow's conflict sweep runs in AWS: every minute when `autoResolveAfter` is under 10 minutes
 * (a conflict is then settled at most a minute late), else every 5 minutes, the dashboard's period.
 */
export function conflictSweepEvery(flow: FlowConfig): string {
  const after = flow.conflict.autoResolveAfter;
  return after !== undefined && parseDurationMs(after) < FAST_SWEEP_BELOW_MS ? '1 minute' : '5 minutes';
}

/** The bus (name or ARN) of a manual flow's `syncline.ConflictOpened` events: `conflict.eventBusName`, else the default bus. */
export function conflictEventBus(flow: FlowConfig): string {
  return flow.conflict.eventBusName ?? 'default';
}

function sqsTrigger(queueId: string, batchSize: number): TriggerPlan {
  return { type: 'sqs', queue: queueId, batchSize, maxBatchingWindowSeconds: 1 };
}

export function planFlow(flow: FlowConfig): FlowPlan {
  const queues: QueuePlan[] = [queue(flow.id, 'transform'), queue(flow.id, 'resolve')];
  const functions: FunctionPlan[] = [];
  const webhookSources = flow.sources.filter((s) => s.type === 'webhook');
  for (const source of webhookSources) {
    const routes = [`/webhooks/${flow.id}/${source.id}`];
    if (webhookSources.length === 1) routes.push(`/webhooks/${flow.id}`);
    functions.push({
      id: `capture-${source.id}`,
      name: `${flow.id}-capture-${source.id}`,
      step: 'capture',
      handler: 'webhook-capture',
      sourceId: source.id,
      trigger: { type: 'http', routes },
      sendsTo: ['transform'],
      timeoutSeconds: 29,
      memoryMb: 512,
    });
  }
  const eventRules: EventRulePlan[] = [];
  for (const source of flow.sources) {
    const capture = { id: `capture-${source.id}`, name: `${flow.id}-capture-${source.id}`, step: 'capture', sourceId: source.id, sendsTo: ['transform'] } as const;
    switch (source.type) {
      case 'webhook':
        break;
      case 'dynamodb-stream':
        functions.push({
          ...capture,
          handler: 'dynamodb-stream-capture',
          trigger: {
            type: 'dynamodb-stream',
            ...(source.tableName ? { tableName: source.tableName } : {}),
            ...(source.streamArn ? { streamArn: source.streamArn } : {}),
            batchSize: 100,
            maxBatchingWindowSeconds: 1,
            startingPosition: 'TRIM_HORIZON',
            bisectBatchOnError: true,
            retryAttempts: STREAM_RETRY_ATTEMPTS,
            maxRecordAgeSeconds: STREAM_MAX_RECORD_AGE_SECONDS,
            onFailureQueue: `${flow.id}-capture-${source.id}-dlq`,
            ...(source.filter ? { filter: source.filter } : {}),
          },
          timeoutSeconds: 60,
          memoryMb: 512,
        });
        break;
      case 'sqs':
      case 'eventbridge': {
        const inbound = queue(flow.id, `inbound-${source.id}`, source.id);
        queues.push(inbound);
        if (source.type === 'eventbridge') eventRules.push({ sourceId: source.id, busName: source.busName, pattern: source.pattern, queue: inbound.id });
        functions.push({ ...capture, handler: 'sqs-capture', trigger: sqsTrigger(inbound.id, 10), timeoutSeconds: SQS_FUNCTION_TIMEOUT, memoryMb: 512 });
        break;
      }
      case 'schedule':
        functions.push({
          ...capture,
          handler: 'schedule-capture',
          trigger: { type: 'schedule', ...(source.every ? { every: source.every } : {}), ...(source.cron ? { cron: source.cron } : {}) },
          timeoutSeconds: 900,
          memoryMb: 1024,
        });
        break;
    }
  }
  const deliverQueues = flow.targets.map((t) => queue(flow.id, `deliver-${t.id}`, undefined, 6 * deliverySizing(t).timeoutSeconds));
  functions.push(
    {
      id: 'transform',
      name: `${flow.id}-transform`,
      step: 'transform',
      handler: 'transform',
      trigger: sqsTrigger('transform', 100),
      // Its own queue too: the failed records of a pack go back there one per message.
      sendsTo: ['resolve', 'transform'],
      timeoutSeconds: SQS_FUNCTION_TIMEOUT,
      memoryMb: 512,
    },
    {
      id: 'resolve',
      name: `${flow.id}-resolve`,
      step: 'resolve',
      handler: 'resolve',
      trigger: sqsTrigger('resolve', 100),
      // Its own queue too: the failed records of a pack go back there one per message, and a truncate to delete is
      // expanded there a page at a time.
      sendsTo: [...deliverQueues.map((q) => q.id), 'resolve'],
      timeoutSeconds: SQS_FUNCTION_TIMEOUT,
      memoryMb: 512,
    },
  );
  for (const target of flow.targets) {
    const sizing = deliverySizing(target);
    functions.push({
      id: `deliver-${target.id}`,
      name: `${flow.id}-deliver-${target.id}`,
      step: 'deliver',
      handler: `deliver-${target.type}` as HandlerKind,
      targetId: target.id,
      trigger: sqsTrigger(`deliver-${target.id}`, sizing.batchSize),
      // Its own queue when it takes packs (the failed records of a pack go back there one per message), and for a
      // target without conditional writes, whose keys never tried go back there on their last receive.
      sendsTo: target.type !== 'dynamodb' || packedQueue(flow, `deliver-${target.id}`) ? [`deliver-${target.id}`] : [],
      timeoutSeconds: sizing.timeoutSeconds,
      memoryMb: 256,
      ...(sizing.maxConcurrency !== undefined ? { maxConcurrency: sizing.maxConcurrency, rateLimitPerInvocation: sizing.rateLimitPerInvocation } : {}),
    });
  }
  queues.push(...deliverQueues);
  if (isManualFlow(flow)) {
    // Closes conflicts a newer edit replaced, settles those older than autoResolveAfter, and publishes the OpenConflicts gauge.
    functions.push({
      id: 'conflict-sweep',
      name: `${flow.id}-conflict-sweep`,
      step: 'review',
      handler: 'conflict-sweep',
      trigger: { type: 'schedule', every: conflictSweepEvery(flow) },
      sendsTo: ['resolve'],
      timeoutSeconds: 60,
      memoryMb: 256,
    });
  }
  return {
    flow,
    queues,
    functions,
    webhookSecrets: webhookSources.map((s) =>
      s.auth.secretName ? { sourceId: s.id, name: s.auth.secretName, named: true } : { sourceId: s.id, name: `syncline/${flow.id}/${s.id}/webhook`, named: false },
    ),
    eventRules,
    targetTables: flow.targets.flatMap((t) =>
      t.type === 'dynamodb' ? [{ targetId: t.id, existing: t.tableName, localName: t.tableName ?? `${flow.id}-${t.id}`, keyAttribute: t.keyAttribute }] : [],
    ),
  };
}

/** The whole topology; throws UnsupportedError for types without a runtime. */
export function plan(config: SynclineConfig): Plan {
  const problems = unsupportedTypes(config);
  if (problems.length) throw new UnsupportedError(problems);
  return { tables: STORE_TABLES, flows: config.flows.map(planFlow) };
}


import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { NUMBER_KEY_ATTRIBUTES, type FlowPlan, type Plan, type QueuePlan, type TablePlan } from '../../functions/plan/plan';
import type { QueueView } from '../../functions/handlers/admin-service';
import { SynclineError } from '../../functions/core/errors';
import type { StoreTableId } from '../../functions/plan/store-tables';
import { errorNameOf } from '../../functions/core/error-text';
import { tableNameOf } from '../../functions/config/table-name';

/** Local names of the store tables shared by every flow. */
export const LOCAL_STORE_TABLES: Readonly<Record<StoreTableId, string>> = {
  state: 'syncline-state',
  audit: 'syncline-audit',
  quarantine: 'syncline-quarantine',
  conflicts: 'syncline-conflicts',
  dedup: 'syncline-dedup',
};

const keyType = (name: string) => (NUMBER_KEY_ATTRIBUTES.has(name) ? 'N' : 'S');

/** A local queue and its DLQ: the same description the admin API gives of a deployed one. */
export type QueueResource = QueueView;

export interface FlowResources {
  readonly flowId: string;
  /** By queue id (`transform`, `resolve`, `deliver-<target>`). */
  readonly queues: Readonly<Record<string, QueueResource>>;
  /** Target table name by target id. */
  readonly targetTables: Readonly<Record<string, string>>;
  /** Source table name by `dynamodb-stream` source id (created with a NEW_AND_OLD_IMAGES stream). */
  readonly sourceTables: Readonly<Record<string, string>>;
  /** Source bucket by `schedule` s3 source id. */
  readonly sourceBuckets: Readonly<Record<string, string>>;
  /** On-failure destination of each `dynamodb-stream` source's mapping (`<flow>-capture-<source>-dlq`). */
  readonly streamFailureQueues: Readonly<Record<string, { readonly name: string; readonly url: string; readonly arn: string }>>;
}

export interface LocalResources {
  readonly tables: Readonly<Record<StoreTableId, string>>;
  readonly flows: Readonly<Record<string, FlowResources>>;
}

/** Waits until a table and all its indexes are ACTIVE; answers the names of its indexes. */
async function whenActive(ddb: DynamoDBClient, tableName: string | undefined, timeoutMs = 60_000): Promise<string[]> {
  // A deadline, not a number of tries: a busy DynamoDB Local answers slowly.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    const indexes = Table?.GlobalSecondaryIndexes ?? [];
    if (Table?.TableStatus === 'ACTIVE' && indexes.every((ix) => ix.IndexStatus === 'ACTIVE')) return indexes.map((ix) => ix.IndexName!);
    if (Date.now() > deadline) throw new Error(`table ${tableName} did not become ACTIVE within ${timeoutMs / 1000} s (status ${Table?.TableStatus}, indexes ${indexes.map((ix) => `${ix.IndexName} ${ix.IndexStatus}`).join(', ') || 'none'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A table kept by `--persist` from an older version lacks what this version needs. */
export class OutdatedTableError extends SynclineError {
  constructor(readonly tableName: string, readonly missing: readonly string[]) {
    super(
      `table ${tableName} (kept by --persist from an older syncline) lacks index ${missing.join(', ')}: ` +
        `start with a new --persist folder, or delete that table (aws dynamodb delete-table --endpoint-url <dynamodb url> --table-name ${tableName}) and start again`,
    );
    this.name = 'OutdatedTableError';
  }
}

/**
 * Creates a table unless it exists, and waits until it is ACTIVE. A kept table (`--persist`) without an index of
 * the plan is refused with OutdatedTableError (DynamoDB Local can leave an index added later in CREATING for good),
 * unless the index is one of `addedLater`, whose reader falls back to the table.
 */
export async function ensureTable(ddb: DynamoDBClient, input: CreateTableCommandInput, ttlAttribute?: string, addedLater: readonly string[] = []): Promise<void> {
  try {
    await ddb.send(new CreateTableCommand(input));
  } catch (err) {
    if (errorNameOf(err) !== 'ResourceInUseException') throw err;
  }
  const existing = await whenActive(ddb, input.TableName);
  // An index added later is read with a fallback to the table, so a kept table without it is used as it is.
  const missing = (input.GlobalSecondaryIndexes ?? []).map((ix) => ix.IndexName!).filter((name) => !existing.includes(name) && !addedLater.includes(name));
  if (missing.length > 0) throw new OutdatedTableError(input.TableName!, missing);
  if (ttlAttribute) {
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: input.TableName }));
    if (ttl.TimeToLiveDescription?.TimeToLiveStatus !== 'ENABLED') {
      await ddb.send(new UpdateTimeToLiveCommand({ TableName: input.TableName, TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true } }));
    }
  }
}

/** CreateTable input of a store table, keys and indexes exactly as the plan gives them. */
export function storeTableInput(table: TablePlan, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition>();
  const attr = (name: string) => attributes.set(name, { AttributeName: name, AttributeType: keyType(name) });
  attr(table.partitionKey);
  if (table.sortKey) attr(table.sortKey);
  for (const ix of table.indexes) {
    attr(ix.partitionKey);
    attr(ix.sortKey);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()],
    KeySchema: [
      { AttributeName: table.partitionKey, KeyType: 'HASH' },
      ...(table.sortKey ? [{ AttributeName: table.sortKey, KeyType: 'RANGE' as const }] : []),
    ],
    ...(table.indexes.length
      ? {
          GlobalSecondaryIndexes: table.indexes.map((ix) => ({
            IndexName: ix.name,
            KeySchema: [
              { AttributeName: ix.partitionKey, KeyType: 'HASH' as const },
              { AttributeName: ix.sortKey, KeyType: 'RANGE' as const },
            ],
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
  };
}

/** A target table keyed by the target's key attribute (a string: the record key). */
export function targetTableInput(tableName: string, keyAttribute: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: keyAttribute, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: keyAttribute, KeyType: 'HASH' }],
  };
}

/** Creates a queue, or, when it exists with other attributes, brings them to the wanted values. */
export async function ensureQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string }> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
  } catch (err) {
    if (!['QueueNameExists', 'QueueAlreadyExists'].includes(errorNameOf(err))) throw err;
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  if (!url) throw new Error(`queue ${name} has no URL`);
  const got = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = got.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${name} has no ARN`);
  return { url, arn };
}

async function createQueue(sqs: SQSClient, queue: QueuePlan, visibilityTimeoutSeconds: number): Promise<QueueResource> {
  const dlqName = `${queue.name}-dlq`;
  // 14 days, as the stack's DLQs keep messages.
  const dlq = await ensureQueue(sqs, dlqName, { MessageRetentionPeriod: '1209600' });
  const main = await ensureQueue(sqs, queue.name, {
    VisibilityTimeout: String(visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: queue.maxReceiveCount }),
  });
  return {
    id: queue.id,
    name: queue.name,
    ...main,
    maxReceiveCount: queue.maxReceiveCount,
    visibilityTimeoutSeconds,
    dlq: { name: dlqName, ...dlq },
  };
}

async function createFlow(ddb: DynamoDBClient, sqs: SQSClient, flow: FlowPlan, visibilityTimeoutSeconds: number): Promise<FlowResources> {
  const queues = await Promise.all(flow.queues.map((q) => createQueue(sqs, q, visibilityTimeoutSeconds)));
  await Promise.all(flow.targetTables.map((t) => ensureTable(ddb, targetTableInput(tableNameOf(t.localName), t.keyAttribute))));
  const streamSources = flow.functions.flatMap((fn) => (fn.trigger.type === 'dynamodb-stream' && fn.sourceId ? [{ sourceId: fn.sourceId, trigger: fn.trigger }] : []));
  const failureQueues = await Promise.all(
    streamSources.map(async ({ sourceId, trigger }) => [sourceId, { name: trigger.onFailureQueue, ...(await ensureQueue(sqs, trigger.onFailureQueue, { MessageRetentionPeriod: '1209600' })) }] as const),
  );
  return {
    flowId: flow.flow.id,
    queues: Object.fromEntries(queues.map((q) => [q.id, q])),
    targetTables: Object.fromEntries(flow.targetTables.map((t) => [t.targetId, tableNameOf(t.localName)])),
    sourceTables: Object.fromEntries(sourceTablesOf(flow).map((t) => [t.sourceId, t.tableName])),
    sourceBuckets: Object.fromEntries(sourceBucketsOf(flow).map((b) => [b.sourceId, b.bucket])),
    streamFailureQueues: Object.fromEntries(failureQueues),
  };
}

/** The local table of a `dynamodb-stream` source: its `tableName`, or the table named in its `streamArn`. */
export function streamSourceTable(source: { tableName?: string; streamArn?: string }): string | undefined {
  if (source.tableName) return tableNameOf(source.tableName);
  const m = source.streamArn ? /^arn:[^:]*:dynamodb:[^:]*:[^:]*:table\/([^/]+)\/stream\//.exec(source.streamArn) : null;
  return m?.[1];
}

function sourceTablesOf(flow: FlowPlan): { sourceId: string; tableName: string }[] {
  return flow.flow.sources.flatMap((s) => {
    const tableName = s.type === 'dynamodb-stream' ? streamSourceTable(s) : undefined;
    return tableName ? [{ sourceId: s.id, tableName }] : [];
  });
}

function sourceBucketsOf(flow: FlowPlan): { sourceId: string; bucket: string }[] {
  return flow.flow.sources.flatMap((s) => (s.type === 'schedule' && s.s3 ? [{ sourceId: s.id, bucket: s.s3.bucket }] : []));
}

/**
 * Creates a source table with a NEW_AND_OLD_IMAGES stream, or turns the stream on when the table exists
 * without one (a `--persist` folder, or a target table of another flow that is also this source).
 */
export async function ensureStreamTable(ddb: DynamoDBClient, tableName: string, keyAttribute: string): Promise<void> {
  await ensureTable(ddb, { ...targetTableInput(tableName, keyAttribute), StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } });
  const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
  const spec = Table?.StreamSpecification;
  if (spec?.StreamEnabled && spec.StreamViewType === 'NEW_AND_OLD_IMAGES') return;
  if (spec?.StreamEnabled) {
    // The view type cannot be changed in place: the stream is turned off, then on again.
    await ddb.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: false } }));
    await waitActive(ddb, tableName);
  }
  await ddb.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }));
  await waitActive(ddb, tableName);
}

async function waitActive(ddb: DynamoDBClient, tableName: string): Promise<void> {
  for (let i = 0; ; i++) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (i > 100) throw new Error(`table ${tableName} did not become ACTIVE`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface CreateResourcesOptions {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  /** Local visibility timeout, short so a failed message is retried (and reaches its DLQ) within seconds. */
  readonly visibilityTimeoutSeconds: number;
  readonly tableNames?: Readonly<Record<StoreTableId, string>>;
  /** Creates the buckets of `schedule` s3 sources when given. */
  readonly s3?: S3Client;
}

/** Creates every resource of the plan; idempotent, so a `--persist` restart finds its tables again. */
export async function createResources(plan: Plan, options: CreateResourcesOptions): Promise<LocalResources> {
  const names = options.tableNames ?? LOCAL_STORE_TABLES;
  await Promise.all(plan.tables.map((t) => ensureTable(options.dynamodb, storeTableInput(t, names[t.id]), t.ttlAttribute, t.indexes.filter((ix) => ix.addedLater).map((ix) => ix.name))));
  // Source tables first, keyed like a target table when one flow's target is another's (or its own) source.
  const targetKeys = new Map(plan.flows.flatMap((f) => f.targetTables.map((t) => [tableNameOf(t.localName), t.keyAttribute] as const)));
  const sourceTables = new Map(plan.flows.flatMap((f) => sourceTablesOf(f).map((t) => [t.tableName, targetKeys.get(t.tableName) ?? f.flow.key[0]!] as const)));
  await Promise.all([...sourceTables].map(([name, keyAttribute]) => ensureStreamTable(options.dynamodb, name, keyAttribute)));
  const buckets = new Set(plan.flows.flatMap((f) => sourceBucketsOf(f).map((b) => b.bucket)));
  if (buckets.size > 0 && !options.s3) throw new Error('schedule sources read S3 buckets but no S3 client was given');
  for (const bucket of buckets) await ensureBucket(options.s3!, bucket);
  const flows: Record<string, FlowResources> = {};
  for (const flow of plan.flows) flows[flow.flow.id] = await createFlow(options.dynamodb, options.sqs, flow, options.visibilityTimeoutSeconds);
  return { tables: { ...names }, flows };
}

/** Bucket of claim-check payloads (messages over 250 KB), the local twin of SyncStore's payload bucket. */
export const LOCAL_PAYLOAD_BUCKET = 'syncline-payloads';

/** Creates a bucket unless it exists. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(errorNameOf(err))) throw err;
  }
}

import { namedSecrets } from '../config/named-secrets';
import { tableNameOf } from '../config/table-name';
import type { FlowPlan } from '../plan/plan';
import type { FlowResourceView, QueueView } from '../handlers/admin-service';
import { messageOf } from '../core/errors';

/**
 * Deployed names of one flow's resources, by plan id: the admin function's `FLOW_RESOURCES` (JSON). Names only,
 * so a flow's resources fit Lambda's 4 KB environment: URLs and ARNs are built with the SQS prefixes, and each
 * queue's DLQ is read from its RedrivePolicy at the first request.
 */
export interface DeployedNames {
  /** Queue names by queue id. */
  readonly queues: Readonly<Record<string, string>>;
  /** Lambda function names by plan function id. */
  readonly functions: Readonly<Record<string, string>>;
  /** Table names of dynamodb targets by target id. */
  readonly targetTables: Readonly<Record<string, string>>;
  /** Bucket names of s3 targets by target id (absent in the names of an earlier release). */
  readonly targetBuckets?: Readonly<Record<string, string>>;
  /** Webhook signing secret ARNs by source id. */
  readonly webhookSecrets: Readonly<Record<string, string>>;
  /** On-failure queue names of dynamodb-stream sources by source id. */
  readonly streamFailureQueues: Readonly<Record<string, string>>;
}

/** Where the deployment's queues are: `https://sqs.<region>.<suffix>/<account>/` and `arn:<partition>:sqs:<region>:<account>:`. */
export interface SqsPrefixes {
  readonly url: string;
  readonly arn: string;
}

export interface StoreTableNames {
  readonly state: string;
  readonly audit: string;
  readonly quarantine: string;
  readonly conflicts: string;
  readonly dedup: string;
}

/** Parses FLOW_RESOURCES, failing the cold start with what is wrong. */
export function parseDeployedNames(text: string): DeployedNames {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`environment variable FLOW_RESOURCES is not valid JSON: ${messageOf(err)}`);
  }
  const v = value as Partial<DeployedNames> | null;
  const maps = ['queues', 'functions', 'targetTables', 'webhookSecrets', 'streamFailureQueues'] as const;
  if (!v || typeof v !== 'object' || maps.some((k) => !v[k] || typeof v[k] !== 'object')) {
    throw new Error(`environment variable FLOW_RESOURCES must be a JSON object with ${maps.join(', ')}`);
  }
  return v as DeployedNames;
}

/** The URL of each queue of the flow, by queue id; fails naming a queue FLOW_RESOURCES lacks. */
export function deployedQueueUrls(plan: FlowPlan, names: DeployedNames, sqs: SqsPrefixes): Record<string, string> {
  return Object.fromEntries(
    plan.queues.map((q) => {
      const name = names.queues[q.id];
      if (!name) throw new Error(`FLOW_RESOURCES has no queue "${q.id}" of flow "${plan.flow.id}"`);
      return [q.id, sqs.url + name];
    }),
  );
}

/** The flow's resources as the admin API describes them, from the deployed names and each queue's DLQ ARN. */
export function deployedFlowResources(
  plan: FlowPlan,
  names: DeployedNames,
  sqs: SqsPrefixes,
  tables: StoreTableNames,
  dlqArns: Readonly<Record<string, string | undefined>>,
  payloadBucket: string,
): FlowResourceView {
  const queueOf = (name: string) => ({ name, url: sqs.url + name, arn: sqs.arn + name });
  const urls = deployedQueueUrls(plan, names, sqs);
  const queues: Record<string, QueueView> = {};
  for (const q of plan.queues) {
    const dlqArn = dlqArns[q.id];
    if (!dlqArn) throw new Error(`queue ${urls[q.id]} of flow "${plan.flow.id}" has no dead-letter queue`);
    queues[q.id] = {
      id: q.id,
      ...queueOf(names.queues[q.id]!),
      maxReceiveCount: q.maxReceiveCount,
      visibilityTimeoutSeconds: q.visibilityTimeoutSeconds,
      dlq: queueOf(dlqArn.slice(dlqArn.lastIndexOf(':') + 1)),
    };
  }
  const sourceTables: Record<string, string> = {};
  const buckets: Record<string, string> = {};
  for (const s of plan.flow.sources) {
    if (s.type === 'dynamodb-stream') sourceTables[s.id] = tableNameOf(s.tableName ?? s.streamArn!.replace(/\/stream\/.*$/, ''));
    if (s.type === 'schedule' && s.s3) buckets[s.id] = s.s3.bucket;
  }
  return {
    tables: { ...tables, targets: names.targetTables, sources: sourceTables },
    buckets: { targets: names.targetBuckets ?? {}, payloads: payloadBucket },
    sources: { buckets, streamFailureQueues: Object.fromEntries(Object.entries(names.streamFailureQueues).map(([id, name]) => [id, queueOf(name)])) },
    queues,
    functions: names.functions,
    secrets: {
      webhooks: plan.webhookSecrets.map((s) => {
        const arn = names.webhookSecrets[s.sourceId] ?? '';
        // A secret ARN ends in `secret:<name>-<6 random characters>`.
        return { sourceId: s.sourceId, name: arn.replace(/^.*:secret:/, '').replace(/-[A-Za-z0-9]{6}$/, ''), arn };
      }),
      named: namedSecrets({ flows: [plan.flow] }).map((name) => ({ name })),
    },
  };
}

import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { FlowConfig } from '../../functions/config/schema';
import type { FunctionPlan, Plan } from '../../functions/plan/plan';
import type { EventPutter } from '../../functions/adapters/eventbridge-put-events';
import { EventBridgeTargetWriter } from '../../functions/adapters/eventbridge-target-writer';
import { HttpTargetWriter } from '../../functions/adapters/http-target-writer';
import { TokenBucket } from '../../functions/adapters/rate-limiter';
import { S3TargetWriter } from '../../functions/adapters/s3-target-writer';
import { SqsTargetWriter } from '../../functions/adapters/sqs-target-writer';
import type { BatchTargetWriter, LogPort, RemoteIdStore, Secrets } from '../../functions/ports';
import { ensureQueue } from './resources';

/** Local resources of S3 and SQS targets, by flow id then target id. */
export interface TargetResources {
  /** Bucket of each `s3` target: its `bucket`, or `<flow>-<target>` when the stack would create one. */
  readonly buckets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Queue of each `sqs` target, named as in its `queueArn`. */
  readonly queues: Readonly<Record<string, Readonly<Record<string, { readonly name: string; readonly url: string; readonly arn: string }>>>>;
}

/** The bucket an `s3` target writes to locally. */
export function localTargetBucket(flowId: string, target: { id: string; bucket?: string }): string {
  return target.bucket ?? `${flowId}-${target.id}`;
}

/** The queue name in an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`). */
export function queueNameOfArn(arn: string): string {
  const name = arn.split(':')[5];
  if (!name) throw new Error(`not an SQS queue ARN: ${arn}`);
  return name;
}

async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name ?? '';
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

/** Creates the buckets of `s3` targets and the queues of `sqs` targets the config names; idempotent. */
export async function createTargetResources(plan: Plan, clients: { s3: S3Client; sqs: SQSClient }): Promise<TargetResources> {
  const buckets: Record<string, Record<string, string>> = {};
  const queues: Record<string, Record<string, { name: string; url: string; arn: string }>> = {};
  for (const { flow } of plan.flows) {
    buckets[flow.id] = {};
    queues[flow.id] = {};
    for (const t of flow.targets) {
      if (t.type === 's3') {
        const bucket = localTargetBucket(flow.id, t);
        await ensureBucket(clients.s3, bucket);
        buckets[flow.id]![t.id] = bucket;
      } else if (t.type === 'sqs') {
        const name = queueNameOfArn(t.queueArn);
        queues[flow.id]![t.id] = { name, ...(await ensureQueue(clients.sqs, name, {})) };
      }
    }
  }
  return { buckets, queues };
}

/** Where a local target writer finds its target and what it writes with. */
export interface LocalTargetWriterOptions {
  readonly fn: FunctionPlan;
  readonly flow: FlowConfig;
  readonly resources: TargetResources;
  readonly clients: { s3: S3Client; sqs: SQSClient };
  /** Remote ids of records `http` targets with `create` made. */
  readonly remoteIds?: RemoteIdStore;
  readonly secrets: Secrets;
  /** The local EventBridge (runtime.eventBus), for `eventbridge` targets. */
  readonly eventBus: () => EventPutter | undefined;
  readonly logger?: LogPort;
}

/** The writer of one S3, EventBridge, HTTP or SQS target on the local servers. */
export function localTargetWriter(o: LocalTargetWriterOptions): BatchTargetWriter {
  const target = o.flow.targets.find((t) => t.id === o.fn.targetId);
  if (!target) throw new Error(`flow "${o.flow.id}" has no target "${o.fn.targetId}"`);
  switch (target.type) {
    case 's3':
      return new S3TargetWriter({ client: o.clients.s3, bucket: o.resources.buckets[o.flow.id]![target.id]!, prefix: target.prefix });
    case 'sqs':
      return new SqsTargetWriter({ client: o.clients.sqs, queueUrl: o.resources.queues[o.flow.id]![target.id]!.url });
    case 'http':
      return new HttpTargetWriter({
        flowId: o.flow.id,
        target,
        secrets: o.secrets,
        // The local poller runs one invocation at a time, so that one may use the whole rate.
        ...(target.rateLimitPerSecond ? { limiter: new TokenBucket(target.rateLimitPerSecond) } : {}),
        ...(o.remoteIds ? { remoteIds: o.remoteIds } : {}),
        ...(o.logger ? { log: (m: string, a: Record<string, unknown>) => o.logger!.info(m, a) } : {}),
      });
    case 'eventbridge':
      return new EventBridgeTargetWriter({
        putter: {
          putEvents: async (entries) => {
            const bus = o.eventBus();
            if (!bus) throw Object.assign(new Error('the local runtime has no event bus'), { name: 'ServiceUnavailable' });
            return bus.putEvents(entries);
          },
        },
        busName: target.busName,
        source: target.source,
        detailType: target.detailType,
      });
    case 'dynamodb':
      throw new Error(`target "${target.id}" is a dynamodb target: use the deliver-dynamodb wiring`);
  }
}

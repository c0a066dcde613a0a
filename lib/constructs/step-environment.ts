import { Stack } from 'aws-cdk-lib';
import { isManualFlow } from '../../functions/plan/flow-traits';
import { conflictEventBus, type FunctionPlan } from '../../functions/plan/plan';
import { sealsPullKeys, type StepGrantContext } from './step-grants';

/**
 * The environment a step's function reads at module load (functions/entry): where its input comes from, where it
 * sends, and the resources of its target. The store tables' names are added by SyncFlow for every function.
 */
export function stepEnvironment(ctx: StepGrantContext, f: FunctionPlan): Record<string, string> {
  const { queues, flow } = ctx;
  switch (f.step) {
    case 'capture':
      return {
        SOURCE_ID: f.sourceId as string,
        ...(f.handler === 'webhook-capture' ? { WEBHOOK_SECRET_ARN: ctx.webhookSecrets[f.sourceId as string]!.secretArn } : {}),
        ...(sealsPullKeys(ctx, f) ? { HASH_KEY_SECRET_ARN: ctx.store.hashKeySecret.secretArn } : {}),
        TRANSFORM_QUEUE_URL: queues.transform!.queueUrl,
      };
    case 'transform':
      return { RESOLVE_QUEUE_URL: queues.resolve!.queueUrl, TRANSFORM_QUEUE_URL: queues.transform!.queueUrl, HASH_KEY_SECRET_ARN: ctx.store.hashKeySecret.secretArn };
    case 'resolve': {
      const urls = Object.fromEntries(f.sendsTo.filter((qid) => qid.startsWith('deliver-')).map((qid) => [qid.replace(/^deliver-/, ''), queues[qid]!.queueUrl]));
      // Failed records of a pack, and a truncate to delete, go back onto the resolve queue itself.
      const self: Record<string, string> = f.sendsTo.includes('resolve') ? { RESOLVE_QUEUE_URL: queues.resolve!.queueUrl } : {};
      // Manual review: newly opened conflicts are announced (syncline.ConflictOpened) on the configured bus.
      const events: Record<string, string> = isManualFlow(flow) ? { EVENT_BUS_NAME: conflictEventBus(flow) } : {};
      return { DELIVER_QUEUE_URLS: Stack.of(ctx.scope).toJsonString(urls), ...events, ...self };
    }
    case 'deliver':
      return deliverEnvironment(ctx, f);
    case 'review':
      return { RESOLVE_QUEUE_URL: queues.resolve!.queueUrl };
  }
}

/** Environment of a delivery function: its target and where that target's writes go. */
function deliverEnvironment(ctx: StepGrantContext, f: FunctionPlan): Record<string, string> {
  const targetId = f.targetId as string;
  const target = ctx.flow.targets.find((t) => t.id === targetId)!;
  const env: Record<string, string> = { TARGET_ID: targetId };
  // Its own queue, where the failed records of a pack go back.
  const own = `deliver-${targetId}`;
  if (f.sendsTo.includes(own)) env.DELIVER_QUEUE_URLS = Stack.of(ctx.scope).toJsonString({ [targetId]: ctx.queues[own]!.queueUrl });
  // A table given by ARN keeps its ARN: the function addresses it there, with a client in its region. (An imported
  // table's tableName is the bare name, which would be a table of that name in this account and region.)
  // Rejected records (e.g. HTTP 4xx, an item DynamoDB refuses) are parked in the delivery queue's DLQ at once.
  env.DLQ_URL = ctx.deadLetterQueues[`deliver-${targetId}`]!.queueUrl;
  if (target.type === 'dynamodb') return { ...env, TARGET_TABLE: target.tableName?.startsWith('arn:') ? target.tableName : ctx.targetTables[targetId]!.tableName };
  if (target.type === 's3') env.TARGET_BUCKET = ctx.targetBuckets[targetId]!.bucketName;
  if (f.rateLimitPerInvocation !== undefined) env.RATE_LIMIT_PER_INVOCATION = String(f.rateLimitPerInvocation);
  return env;
}

import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { FlowConfig } from '../../functions/config/schema';
import { deletesOnTruncate, isManualFlow } from '../../functions/plan/flow-traits';
import { conflictEventBus, type FunctionPlan } from '../../functions/plan/plan';
import { ORIGIN_MARKER_ATTRIBUTE } from '../../functions/core/capture/dynamodb-stream';
import { chunk } from '../../functions/core/chunk';
import { pullKeysSealed } from '../../functions/core/pull/pull-keys';
import { busArn, grantAttributeRead, grantFlowItems, grantOnTable, grantSecretValue, grantSend } from './flow-grants';
import { AUDIT_TIME_INDEX, CONFLICT_OPEN_INDEX, PAYLOAD_CLAIM_PREFIX, QUARANTINE_TIME_INDEX, STATE_TRUNCATE_INDEX, type SyncStore } from './sync-store';

/** Queue ARNs per status statement of the admin role (SQS queue ARNs run up to about 130 characters). */
const QUEUES_PER_STATEMENT = 10;

/** What a flow's grants refer to. */
export interface StepGrantContext {
  readonly scope: Construct;
  readonly flow: FlowConfig;
  readonly store: SyncStore;
  readonly queues: Readonly<Record<string, IQueue>>;
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  readonly streamFailureQueues: Readonly<Record<string, IQueue>>;
  readonly webhookSecrets: Readonly<Record<string, ISecret>>;
  readonly targetTables: Readonly<Record<string, ITable>>;
  readonly targetBuckets: Readonly<Record<string, IBucket>>;
  readonly targetSecrets: Readonly<Record<string, ISecret>>;
}

const claims = (store: SyncStore) => store.payloadBucket.arnForObjects(`${PAYLOAD_CLAIM_PREFIX}*`);

/** A schedule source's pull whose flow masks its key keeps the key as an HMAC in its state (core/pull/pull-keys.ts). */
export function sealsPullKeys({ flow }: Pick<StepGrantContext, 'flow'>, f: FunctionPlan): boolean {
  const source = flow.sources.find((s) => s.id === f.sourceId);
  return f.handler === 'schedule-capture' && source?.type === 'schedule' && pullKeysSealed(flow, source);
}

/**
 * Least privilege per step, matching the adapters in functions/adapters: audit and quarantine are appended with
 * BatchWriteItem, state is read with BatchGetItem and written with conditional UpdateItem, a delivery records its
 * marker with UpdateItem, and every action on a shared table is limited to the flow's own items (LeadingKeys).
 * The SQS event source grants consuming the trigger queue; stream reads, a stream source's backfill scan and a
 * schedule source's pull are granted where those triggers are wired.
 */
export function grantStep(ctx: StepGrantContext, f: FunctionPlan, fn: IGrantable, claimUse: ReadonlySet<'put' | 'get'>): void {
  const { flow, store } = ctx;
  const flowId = flow.id;
  const append = (table: ITable, kind: 'audit' | 'quarantine') => grantFlowItems(fn, table, { kind, flowId, actions: ['dynamodb:BatchWriteItem'] });
  for (const qid of f.sendsTo) grantSend(ctx.queues[qid]!, fn);
  // Claim check (messages over 250 KB): senders write `claims/*` of the payload bucket; consumers read it and delete
  // what they consumed (raw values must not outlive their message); nothing else.
  if (claimUse.has('put')) Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [claims(store)] });
  if (claimUse.has('get')) Grant.addToPrincipal({ grantee: fn, actions: ['s3:GetObject', 's3:DeleteObject'], resourceArns: [claims(store)] });
  switch (f.step) {
    case 'capture':
      append(store.audit, 'audit');
      append(store.quarantine, 'quarantine');
      if (f.handler === 'webhook-capture') {
        // Webhook ids are claimed, confirmed and released with conditional updates (GetItem: DynamoDB Local may
        // answer a failed condition without the item).
        grantFlowItems(fn, store.dedup, { kind: 'dedup', flowId, actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'] });
        grantSecretValue(ctx.webhookSecrets[f.sourceId as string]!, fn);
      }
      if (sealsPullKeys(ctx, f)) grantSecretValue(store.hashKeySecret, fn);
      break;
    case 'transform':
      append(store.audit, 'audit');
      append(store.quarantine, 'quarantine');
      grantSecretValue(store.hashKeySecret, fn);
      break;
    case 'resolve':
      grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'] });
      // A truncate to delete lists the table's keys through the state's keys-only index (its keys are `<flow>#...` too).
      if (deletesOnTruncate(flow)) {
        grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:Query'], indexes: [STATE_TRUNCATE_INDEX], indexOnly: true, leadingKeys: [`${flowId}#*`] });
        // Each table's latest truncate, kept for the changes of it from before that arrive after it.
        grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'], leadingKeys: [`~truncated#${flowId}#*`] });
      }
      grantFlowItems(fn, store.conflicts, { kind: 'conflicts', flowId, actions: ['dynamodb:PutItem'] });
      append(store.audit, 'audit');
      // A change whose merged record would not fit its state item is quarantined.
      append(store.quarantine, 'quarantine');
      if (isManualFlow(flow)) {
        Grant.addToPrincipal({ grantee: fn, actions: ['events:PutEvents'], resourceArns: [busArn(ctx.scope, conflictEventBus(flow))] });
      }
      break;
    case 'review':
      // The sweep lists open conflicts (Query of their index only), settles or supersedes them with conditional
      // UpdateItems (a settlement with siblings in a transaction that checks them: ConditionCheckItem; re-read with
      // GetItem when it loses), reads the records of due ones (BatchGetItem) to settle only what they still hold,
      // and sends each resolution to the resolve queue (granted through sendsTo above).
      grantFlowItems(fn, store.conflicts, { kind: 'conflicts', flowId, actions: ['dynamodb:Query'], indexes: [CONFLICT_OPEN_INDEX], indexOnly: true });
      grantFlowItems(fn, store.conflicts, { kind: 'conflicts', flowId, actions: ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'] });
      grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:BatchGetItem'] });
      append(store.audit, 'audit');
      break;
    case 'deliver': {
      const targetId = f.targetId as string;
      // State and markers are read with BatchGetItem (a DynamoDB target's tombstones too, after the puts that create items).
      grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:BatchGetItem'] });
      // The delivery records only its own target's markers.
      grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:UpdateItem'], leadingKeys: [`~delivered#${flowId}#${targetId}#*`] });
      append(store.audit, 'audit');
      grantTarget(ctx, targetId, fn);
      break;
    }
  }
}

/**
 * What a delivery function may touch beyond state and audit: its target only. A DynamoDB table (PutItem,
 * DeleteItem), the bucket's `prefix*` objects (PutObject), the bus (PutEvents), the queue (SendMessage, which
 * also authorizes SendMessageBatch, and its KMS key when given) or the HTTP target's secret; and the DLQ where
 * rejected records are parked.
 */
function grantTarget(ctx: StepGrantContext, targetId: string, fn: IGrantable): void {
  const target = ctx.flow.targets.find((t) => t.id === targetId)!;
  grantSend(ctx.deadLetterQueues[`deliver-${targetId}`]!, fn);
  switch (target.type) {
    case 'dynamodb':
      grantOnTable(ctx.targetTables[targetId]!, fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem');
      break;
    case 's3':
      Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [ctx.targetBuckets[targetId]!.arnForObjects(`${target.prefix}*`)] });
      // A bucket encrypting with a customer managed key: a PutObject needs a data key from it
      // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
      if (target.kmsKeyArn) Grant.addToPrincipal({ grantee: fn, actions: ['kms:GenerateDataKey'], resourceArns: [target.kmsKeyArn] });
      break;
    case 'eventbridge':
      Grant.addToPrincipal({ grantee: fn, actions: ['events:PutEvents'], resourceArns: [busArn(ctx.scope, target.busName)] });
      break;
    case 'http':
      if (ctx.targetSecrets[targetId]) grantSecretValue(ctx.targetSecrets[targetId]!, fn);
      break;
    case 'sqs':
      Grant.addToPrincipal({ grantee: fn, actions: ['sqs:SendMessage'], resourceArns: [target.queueArn] });
      // A queue encrypted with a customer managed key: the sender needs a data key from it
      // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
      if (target.kmsKeyArn) Grant.addToPrincipal({ grantee: fn, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resourceArns: [target.kmsKeyArn] });
      break;
  }
}

/**
 * The admin function, matching the adapters: state BatchGetItem; audit Query (lineage; the byFlowTime index for
 * status) and BatchWriteItem (who resolved); conflicts Query (all, closed; open ones through their index),
 * GetItem/UpdateItem (resolve, reopen) and ConditionCheckItem (a resolution checks its siblings); quarantine Query (list, through its byFlowAt index; the table itself while
 * that index is being built), BatchGetItem (replay by id) and DeleteItem (replayed); resolutions to the resolve
 * queue, replays to the transform queue; the depth of every queue of the flow for status.
 */
export function grantAdmin(ctx: StepGrantContext, fn: IGrantable): void {
  const { flow, store } = ctx;
  const flowId = flow.id;
  grantFlowItems(fn, store.state, { kind: 'state', flowId, actions: ['dynamodb:BatchGetItem'] });
  grantFlowItems(fn, store.audit, { kind: 'audit', flowId, actions: ['dynamodb:Query'], indexes: [AUDIT_TIME_INDEX] });
  grantFlowItems(fn, store.audit, { kind: 'audit', flowId, actions: ['dynamodb:BatchWriteItem'] });
  grantFlowItems(fn, store.conflicts, { kind: 'conflicts', flowId, actions: ['dynamodb:Query'], indexes: [CONFLICT_OPEN_INDEX] });
  grantFlowItems(fn, store.conflicts, { kind: 'conflicts', flowId, actions: ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'] });
  grantFlowItems(fn, store.quarantine, { kind: 'quarantine', flowId, actions: ['dynamodb:Query'], indexes: [QUARANTINE_TIME_INDEX] });
  grantFlowItems(fn, store.quarantine, { kind: 'quarantine', flowId, actions: ['dynamodb:BatchGetItem', 'dynamodb:DeleteItem'] });
  // Resolutions to the resolve queue, quarantine replays to the transform queue (to resolve for changes resolve set
  // aside), record replays to each deliver queue; a dry run (`try`) only reads state.
  grantSend(ctx.queues.resolve!, fn);
  grantSend(ctx.queues.transform!, fn);
  for (const t of flow.targets) grantSend(ctx.queues[`deliver-${t.id}`]!, fn);
  // Status reads the depth of every queue, DLQ and stream on-failure queue of the flow (and each queue's RedrivePolicy).
  const queues = [...Object.values(ctx.queues), ...Object.values(ctx.deadLetterQueues), ...Object.values(ctx.streamFailureQueues)];
  // In statements of a few queues each: one statement cannot be split, and a flow with many targets has many queues,
  // past what one managed policy of the role's overflow takes (6,144 characters).
  for (const part of chunk(queues, QUEUES_PER_STATEMENT)) Grant.addToPrincipal({ grantee: fn, actions: ['sqs:GetQueueAttributes'], resourceArns: part.map((q) => q.queueArn) });
  // Record and lineage read the delivery a DynamoDB target item records: its `_syncline` attribute, nothing else.
  for (const t of flow.targets) {
    if (t.type === 'dynamodb') grantAttributeRead(ctx.targetTables[t.id]!, fn, [t.keyAttribute, ORIGIN_MARKER_ATTRIBUTE]);
  }
  // A reviewer's value is masked with the hash key; a resolution or replay over 250 KB goes by claim check.
  grantSecretValue(store.hashKeySecret, fn);
  Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [claims(store)] });
}

import { Names, Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { PAYLOAD_CLAIM_EXPIRY_DAYS, PAYLOAD_CLAIM_PREFIX } from '../constructs/sync-store';
import type { SyncStack } from './sync-stack';

/** A cdk-nag rule acknowledged in every syncline stack, with the reason and the constructs it covers. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
  /** Which constructs of the stack it is applied to. */
  readonly appliesTo: string;
  readonly targets: (stack: SyncStack) => readonly IConstruct[];
}

const flowsOf = (stack: SyncStack) => Object.values(stack.flows);

const streamLookupsOf = (stack: SyncStack) => [...new Set(flowsOf(stack).flatMap((flow) => Object.values(flow.streamArnLookups)))];

/**
 * Every acknowledged AwsSolutions finding. Each is applied to the narrowest constructs that produce it,
 * never stack-wide, so a new finding elsewhere still fails synth.
 */
export const NAG_ACKNOWLEDGEMENTS: readonly NagAcknowledgement[] = [
  {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'X-Ray active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, and a DynamoDB stream event source adds dynamodb:ListStreams; none of these actions supports resource-level permissions, so their resource is "*". Every other statement names its resource.',
    appliesTo: "each syncline function's role (pipeline, admin, flow-list and stream lookup functions)",
    targets: (stack) => [
      ...flowsOf(stack).flatMap((flow) => [...Object.values(flow.functions), flow.adminFunction].map((fn) => fn.role!)),
      stack.flowListFunction.role!,
      ...new Set(streamLookupsOf(stack).map((lookup) => lookup.function.role!)),
    ],
  },
  {
    id: 'AwsSolutions-APIG4',
    reason:
      'Webhook routes are called by third-party SaaS senders that cannot sign with IAM or obtain JWTs; each request is authenticated in the capture function by the scheme its source configures (Standard Webhooks, GitHub, Jira, Shopify or Stripe HMAC signatures, a generic HMAC, a shared token or basic auth, each against a Secrets Manager secret of that source only) and rejected with 401 otherwise.',
    appliesTo: 'the POST /webhooks/... routes',
    targets: (stack) => flowsOf(stack).flatMap((flow) => flow.routes),
  },
  {
    id: 'AwsSolutions-SMG4',
    reason:
      'A webhook secret is shared with the sending SaaS, which must be updated in step with it; automatic rotation would break signature checks. Rotate by hand with both systems (Standard Webhooks and Stripe headers allow several signatures during the switch).',
    appliesTo: 'the per-source webhook secrets',
    targets: (stack) => flowsOf(stack).flatMap((flow) => Object.values(flow.webhookSecrets)),
  },
  {
    id: 'AwsSolutions-SQS3',
    reason:
      "A stream mapping's on-failure queue is itself the dead-letter store: Lambda sends it the metadata (shard, sequence range) of batches it gave up on, nobody consumes it automatically, and a DLQ behind it would never receive anything.",
    appliesTo: "the on-failure queues of dynamodb-stream sources' event source mappings",
    targets: (stack) => flowsOf(stack).flatMap((flow) => Object.values(flow.streamFailureQueues)),
  },
  {
    id: 'AwsSolutions-IAM5[Resource::<SynclineStreamArnLookupOnEvent11F241FF.Arn>:*]',
    reason:
      "CDK's custom resource Provider framework lets its function invoke the stream lookup function and that function's versions (<arn>:*); it can invoke nothing else, and writes only to its own log group.",
    appliesTo: 'the role of the Provider framework function, when a dynamodb-stream source names a table',
    targets: (stack) => streamLookupsOf(stack).map((lookup) => lookup.frameworkRole),
  },
  {
    id: 'AwsSolutions-S1',
    reason: `The payload bucket holds only transient claim-check copies of queue messages over 250 KB (${PAYLOAD_CLAIM_PREFIX}<date>/<sha256>.<id>.json), written, read and deleted once consumed by syncline's own functions through narrow PutObject/GetObject/DeleteObject grants; what a failed message leaves is expired after ${PAYLOAD_CLAIM_EXPIRY_DAYS} days. It is private, encrypted and TLS-only; object-level access is audited with CloudTrail S3 data events when needed, instead of a logging bucket (which would itself need logs).`,
    appliesTo: "the store's payload bucket",
    targets: (stack) => [stack.store.payloadBucket],
  },
  {
    id: 'AwsSolutions-SMG4',
    reason:
      'The hash-masking key must stay stable: rotating it changes every hashed value, which breaks joins on hashed fields across state, audit and targets. Rotation is a deliberate re-keying, not a schedule.',
    appliesTo: "the store's hash-key secret",
    targets: (stack) => [stack.store.hashKeySecret],
  },
];

/** A finding whose id names the resource (so it differs per target), acknowledged on one construct. */
export interface TargetNagAcknowledgement {
  readonly id: string;
  readonly reason: string;
  readonly target: IConstruct;
}

const S3_PREFIX_REASON =
  "An s3 target's delivery function writes one object per batch under the target's prefix (prefix/flow=<id>/dt=.../hour=.../<hash>.jsonl), so it needs s3:PutObject on every key below that prefix: the wildcard is the prefix itself, with PutObject as the only action.";
const S3_ACCESS_LOG_REASON =
  'A target bucket syncline creates is written only by its delivery function (PutObject under the prefix), is private, encrypted and TLS-only, and versioned; object-level access is audited with CloudTrail S3 data events when needed, instead of a second logging bucket per target (which would itself need logs).';

const CLAIMS_REASON = `Claim check: a step that sends a queue message over 250 KB writes its body to the payload bucket as ${PAYLOAD_CLAIM_PREFIX}<date>/<sha256>.<id>.json (s3:PutObject), and the step that consumes the queue reads it back (s3:GetObject) and deletes it once consumed (s3:DeleteObject). Keys are content hashes and ids known only at run time, so the grant names the ${PAYLOAD_CLAIM_PREFIX} prefix with a wildcard: one action per statement, on no other key of the bucket.`;

/** How a function's policy names the store's payload bucket ARN: its logical id, or the nested stack parameter carrying it. */
function payloadBucketRef(stack: SyncStack, consumer: IConstruct): string {
  const cfn = stack.store.payloadBucket.node.defaultChild as CfnResource;
  const producer = Stack.of(cfn);
  return Stack.of(consumer) === producer ? `<${producer.getLogicalId(cfn)}.Arn>` : `<referenceto${Names.nodeUniqueId(cfn.node)}Arn>`;
}

/** Acknowledgements of s3 targets (the `prefix*` object grant, and access logs of created buckets) and of claim-check grants. */
export function targetNagAcknowledgements(stack: SyncStack): TargetNagAcknowledgement[] {
  const out: TargetNagAcknowledgement[] = [];
  for (const flow of flowsOf(stack)) {
    for (const f of flow.flowPlan.functions) {
      const role = flow.functions[f.id]?.role;
      if (!role || flow.claimUse(f).size === 0) continue;
      out.push({ id: `AwsSolutions-IAM5[Resource::${payloadBucketRef(stack, role)}/${PAYLOAD_CLAIM_PREFIX}*]`, reason: CLAIMS_REASON, target: role });
    }
    // The admin function publishes resolutions and replays, which go by claim check when over 250 KB.
    const adminRole = flow.adminFunction.role!;
    out.push({ id: `AwsSolutions-IAM5[Resource::${payloadBucketRef(stack, adminRole)}/${PAYLOAD_CLAIM_PREFIX}*]`, reason: CLAIMS_REASON, target: adminRole });
    for (const t of flow.flowPlan.flow.targets) {
      if (t.type !== 's3') continue;
      const fn = flow.functions[`deliver-${t.id}`];
      const created = flow.createdTargetBuckets[t.id];
      const bucketRef = created ? `<${Stack.of(created).getLogicalId(created.node.defaultChild as never)}.Arn>` : `arn:<AWS::Partition>:s3:::${t.bucket}`;
      if (fn?.role) out.push({ id: `AwsSolutions-IAM5[Resource::${bucketRef}/${t.prefix}*]`, reason: S3_PREFIX_REASON, target: fn.role });
      if (created) out.push({ id: 'AwsSolutions-S1', reason: S3_ACCESS_LOG_REASON, target: created });
    }
  }
  return out;
}

/** Applies {@link NAG_ACKNOWLEDGEMENTS} to a SyncStack (bin/app.ts and the infra tests use the same list). */
export function applyNagAcknowledgements(stack: SyncStack): void {
  for (const ack of NAG_ACKNOWLEDGEMENTS) {
    for (const target of ack.targets(stack)) Validations.of(target).acknowledge({ id: ack.id, reason: ack.reason });
  }
  for (const ack of targetNagAcknowledgements(stack)) Validations.of(ack.target).acknowledge({ id: ack.id, reason: ack.reason });
}

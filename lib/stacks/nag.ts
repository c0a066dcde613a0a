import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
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

/**
 * Every acknowledged AwsSolutions finding. Each is applied to the narrowest constructs that produce it,
 * never stack-wide, so a new finding elsewhere still fails synth.
 */
export const NAG_ACKNOWLEDGEMENTS: readonly NagAcknowledgement[] = [
  {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'X-Ray active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions, so their resource is "*". Every other statement names its resource.',
    appliesTo: "each syncline function's role",
    targets: (stack) => flowsOf(stack).flatMap((flow) => Object.values(flow.functions).map((fn) => fn.role!)),
  },
  {
    id: 'AwsSolutions-APIG4',
    reason:
      'Webhook routes are called by third-party SaaS senders that cannot sign with IAM or obtain JWTs; each request is authenticated in the capture function by its Standard Webhooks HMAC signature (webhook-id, webhook-timestamp, webhook-signature) and rejected with 401 otherwise.',
    appliesTo: 'the POST /webhooks/... routes',
    targets: (stack) => flowsOf(stack).flatMap((flow) => flow.routes),
  },
  {
    id: 'AwsSolutions-SMG4',
    reason:
      'A webhook signing secret is shared with the sending SaaS, which must be updated in step with it; automatic rotation would break signature checks. Rotate by hand with both systems (the Standard Webhooks header allows several signatures during the switch).',
    appliesTo: 'the per-source webhook secrets',
    targets: (stack) => flowsOf(stack).flatMap((flow) => Object.values(flow.webhookSecrets)),
  },
  {
    id: 'AwsSolutions-SMG4',
    reason:
      'The hash-masking key must stay stable: rotating it changes every hashed value, which breaks joins on hashed fields across state, audit and targets. Rotation is a deliberate re-keying, not a schedule.',
    appliesTo: "the store's hash-key secret",
    targets: (stack) => [stack.store.hashKeySecret],
  },
];

/** Applies {@link NAG_ACKNOWLEDGEMENTS} to a SyncStack (bin/app.ts and the infra tests use the same list). */
export function applyNagAcknowledgements(stack: SyncStack): void {
  for (const ack of NAG_ACKNOWLEDGEMENTS) {
    for (const target of ack.targets(stack)) Validations.of(target).acknowledge({ id: ack.id, reason: ack.reason });
  }
}

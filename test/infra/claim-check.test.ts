import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, flowLike, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

let stack: SyncStack;
let template: Template;
let bucketId: string;

beforeAll(() => {
  // Prepare: a flow with a webhook and an inbound sqs source, and every target type.
  const flow = {
    ...flowLike('claims'),
    sources: [
      { id: 'crm', type: 'webhook' },
      { id: 'inbox', type: 'sqs' },
    ],
    targets: everyTargetFlow().targets,
  };
  ({ stack, template } = synthStack(parseConfig({ ...exampleConfigInput(), flows: [flow] }), 'Claims'));
  bucketId = stack.getLogicalId(stack.store.payloadBucket.node.defaultChild as never);
});

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

function statementsOf(fnId: string): Statement[] {
  const fn = stack.flows.claims!.functions[fnId]!;
  const roleId = stack.getLogicalId(fn.role!.node.defaultChild as never);
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
  return Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
}

const claimsArn = () => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/claims/*']] });

/** Actions a function may take on the payload bucket, each from a statement on `claims/*` alone. */
function claimActions(fnId: string): string[] {
  const onBucket = statementsOf(fnId).filter((s) => JSON.stringify(s.Resource).includes(bucketId));
  for (const s of onBucket) expect(s.Resource, `${fnId}: only claims/*`).toEqual(claimsArn());
  return onBucket.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
}

function envOf(fnId: string): Record<string, unknown> {
  const fn = stack.flows.claims!.functions[fnId]!;
  const cfn = template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)];
  return cfn.Properties.Environment.Variables as Record<string, unknown>;
}

describe('payload bucket of the claim check', () => {
  it('is private, S3-encrypted, TLS-only and expires claims/ only after any message pointing there (a DLQ stay and one redrive)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'claims/', ExpirationInDays: Match.anyValue(), Status: 'Enabled' })]) },
    });
    const rule = Object.values(template.findResources('AWS::S3::Bucket'))
      .flatMap((b) => (b.Properties?.LifecycleConfiguration?.Rules ?? []) as { Prefix?: string; ExpirationInDays: number }[])
      .find((r) => r.Prefix === 'claims/')!;
    const longestQueueDays = Math.max(...Object.values(template.findResources('AWS::SQS::Queue')).map((q) => Number(q.Properties?.MessageRetentionPeriod ?? 345_600) / 86_400));
    expect(longestQueueDays).toBe(14);
    expect(rule.ExpirationInDays).toBeGreaterThanOrEqual(2 * longestQueueDays);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it("follows the store's removal policy (retained by default, except when its creation fails)", () => {
    template.hasResource('AWS::S3::Bucket', { Properties: Match.objectLike({ LifecycleConfiguration: Match.anyValue() }), DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain' });
  });
});

describe('functions and the claim check', () => {
  it('every function that sends to or consumes a syncline queue gets PAYLOAD_BUCKET', () => {
    for (const fnId of Object.keys(stack.flows.claims!.functions)) expect(envOf(fnId).PAYLOAD_BUCKET, fnId).toEqual({ Ref: bucketId });
  });

  it('senders may only put claims, consumers only get and delete them (once consumed), steps that do both get both', () => {
    expect(claimActions('capture-crm')).toEqual(['s3:PutObject']);
    // Its inbound queue is written by users: it never reads claims.
    expect(claimActions('capture-inbox')).toEqual(['s3:PutObject']);
    expect(claimActions('transform')).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(claimActions('resolve')).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    // A dynamodb target never parks records; the others park rejected records in their DLQ.
    expect(claimActions('deliver-replica')).toEqual(['s3:DeleteObject', 's3:GetObject']);
    expect(claimActions('deliver-bus')).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
  });

  it('no function gets any other action on the payload bucket', () => {
    for (const fnId of Object.keys(stack.flows.claims!.functions)) {
      for (const a of claimActions(fnId)) expect(['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], fnId).toContain(a);
    }
  });
});

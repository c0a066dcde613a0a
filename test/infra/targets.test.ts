import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { targetNagAcknowledgements } from '../../lib/stacks/nag';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

let stack: SyncStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synthStack(parseConfig({ ...exampleConfigInput(), flows: [everyTargetFlow()] }), 'Targets'));
});

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

/** Every statement of the policies attached to a delivery function's role. */
function statementsOf(targetId: string): Statement[] {
  const fn = stack.flows['every-target']!.functions[`deliver-${targetId}`]!;
  const roleId = stack.getLogicalId(fn.role!.node.defaultChild as never);
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
  return Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
}
const actionsOf = (targetId: string) => statementsOf(targetId).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
const json = (v: unknown) => JSON.stringify(v);
const fnId = (id: string) => stack.getLogicalId(stack.flows['every-target']!.functions[`deliver-${id}`]!.node.defaultChild as never);
/** The template properties of a target's delivery function. */
const props = (id: string) =>
  (template.findResources('AWS::Lambda::Function')[fnId(id)] as { Properties: { ReservedConcurrentExecutions?: number; Environment: { Variables: Record<string, unknown> } } }).Properties;

describe('delivery functions of every target type', () => {
  it('each runs its own handler, fed by its own queue', () => {
    for (const id of ['replica', 'lake', 'archive', 'bus', 'jira', 'peer', 'out']) {
      expect(stack.flows['every-target']!.functions[`deliver-${id}`], id).toBeDefined();
      expect(stack.flows['every-target']!.queues[`deliver-${id}`], id).toBeDefined();
    }
  });

  it('dynamodb (another stack, by ARN): PutItem and DeleteItem on that table only', () => {
    const s = statementsOf('replica').find((x) => json(x.Action).includes('dynamodb:PutItem'))!;
    expect(s.Resource).toBe('arn:aws:dynamodb:eu-west-1:111122223333:table/people-replica');
    // Addressed by ARN (another account or region), not by a bare name that would mean a table of this account.
    expect(props('replica').Environment.Variables.TARGET_TABLE).toBe('arn:aws:dynamodb:eu-west-1:111122223333:table/people-replica');
    expect(actionsOf('replica')).not.toContain('s3:PutObject');
    // An item DynamoDB refuses for what it holds (over 400 KB) is parked in the delivery queue's DLQ.
    const dlq = stack.getLogicalId(stack.flows['every-target']!.deadLetterQueues['deliver-replica']!.node.defaultChild as never);
    expect(props('replica').Environment.Variables.DLQ_URL).toEqual({ Ref: dlq });
    expect(statementsOf('replica').some((x) => json(x.Action).includes('sqs:SendMessage') && json(x.Resource).includes(dlq))).toBe(true);
  });

  it('s3: PutObject under the prefix of that bucket only, and the DLQ for parking', () => {
    // (The claim-check statement on the store's payload bucket is covered by claim-check.test.ts.)
    const lake = statementsOf('lake').find((x) => json(x.Action).includes('s3:PutObject') && !json(x.Resource).includes('PayloadBucket'))!;
    expect(lake.Action).toBe('s3:PutObject');
    expect(json(lake.Resource)).toMatch(/\/contacts\/\*"/);
    const archive = statementsOf('archive').find((x) => json(x.Action).includes('s3:PutObject') && !json(x.Resource).includes('PayloadBucket'))!;
    expect(json(archive.Resource)).toContain(':s3:::existing-archive/syncline/*');
    expect(actionsOf('lake')).not.toContain('events:PutEvents');
    expect(actionsOf('lake')).toEqual(expect.arrayContaining(['sqs:SendMessage']));
  });

  it('s3: a created bucket is encrypted, private, versioned and TLS-only', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    expect(Object.keys(stack.flows['every-target']!.createdTargetBuckets)).toEqual(['lake']);
  });

  it('eventbridge: PutEvents on that bus only', () => {
    const s = statementsOf('bus').find((x) => json(x.Action).includes('events:PutEvents'))!;
    expect(s.Action).toBe('events:PutEvents');
    expect(json(s.Resource)).toContain(':event-bus/crm-events');
  });

  it('http: reads that secret only; a rate-limited target caps its mapping concurrency (not reserved concurrency) and paces each invocation', () => {
    const jira = statementsOf('jira').find((x) => json(x.Action).includes('secretsmanager:GetSecretValue'))!;
    expect(json(jira.Resource)).toContain(':secret:jira-token-??????');
    expect(json(statementsOf('jira'))).not.toContain('peer-signing');
    // An SQS trigger ignores reserved concurrency: throttled invocations would count as receives and go to the DLQ.
    expect(props('jira').ReservedConcurrentExecutions).toBeUndefined();
    const mappingOf = (id: string) =>
      Object.values(template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: fnId(id) } } }))[0]!.Properties as {
        ScalingConfig?: { MaximumConcurrency: number };
        BatchSize: number;
      };
    // 5 requests/s over at most 2 concurrent invocations (the least MaximumConcurrency takes), 2.5/s each, 10 s of it per batch.
    expect(mappingOf('jira').ScalingConfig).toEqual({ MaximumConcurrency: 2 });
    expect(props('jira').Environment.Variables.RATE_LIMIT_PER_INVOCATION).toBe('2.5');
    expect(mappingOf('jira').BatchSize).toBe(25);
    expect(mappingOf('peer').ScalingConfig).toBeUndefined();
  });

  it('sqs: SendMessage on that queue ARN only (besides its own DLQ)', () => {
    const sends = statementsOf('out').filter((x) => json(x.Action).includes('sqs:SendMessage'));
    expect(sends.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource])).map(json)).toContainEqual(json('arn:aws:sqs:eu-west-1:111122223333:people-out'));
    expect(actionsOf('out')).not.toContain('dynamodb:PutItem');
  });

  it('needs each s3 acknowledgement: without them cdk-nag reports exactly those findings', () => {
    const { stack: bare } = synthStack(parseConfig({ ...exampleConfigInput(), flows: [everyTargetFlow()] }), 'TargetsBare', false);
    const found = new AwsSolutionsChecks().validateScope(bare).violations.map((v) => v.ruleName).sort();
    for (const a of targetNagAcknowledgements(bare)) expect(found).toContain(a.id);
    expect(found.filter((id) => id.startsWith('AwsSolutions-S') && id !== 'AwsSolutions-SMG4' && id !== 'AwsSolutions-SNS2' && id !== 'AwsSolutions-SQS3')).toEqual(['AwsSolutions-S1']);
    for (const a of targetNagAcknowledgements(bare)) expect(a.reason.length).toBeGreaterThan(60);
  });

  it('passes cdk-nag with every target type', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});

import { Stack } from 'aws-cdk-lib';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { flowSchema } from '../../functions/config/schema';
import { cronExpression, rateOf } from '../../lib/constructs/schedule-source';
import { SyncFlow } from '../../lib/constructs/sync-flow';
import { SyncStore } from '../../lib/constructs/sync-store';
import { planFlow } from '../../functions/plan/plan';
import { placeholderProjectRoot, testApp } from './helpers';

const flow = flowSchema.parse({
  id: 'people',
  key: ['id'],
  sources: [
    { id: 'files', type: 'schedule', every: '5 minutes', s3: { bucket: 'acme-exports', prefix: 'people/', format: 'csv' } },
    { id: 'api', type: 'schedule', cron: '0 3 * * 1', mode: 'incremental', cursorField: 'updatedAt', http: { url: 'https://crm.test/people', auth: { type: 'bearer', secretName: 'crm/token' } } },
  ],
  targets: [{ id: 'replica', type: 'dynamodb' }],
});

let stack: Stack;
let template: Template;
let syncFlow: SyncFlow;
let store: SyncStore;

beforeAll(() => {
  // Prepare: SyncFlow from its plan directly, bundling skipped.
  const app = testApp();
  stack = new Stack(app, 'Schedules');
  store = new SyncStore(stack, 'Store');
  syncFlow = new SyncFlow(stack, 'Flow', { flowPlan: planFlow(flow), store, httpApi: new HttpApi(stack, 'Api'), projectRoot: placeholderProjectRoot() });
  template = Template.fromStack(stack);
});

const fnRef = (id: string) => ({ 'Fn::GetAtt': [stack.getLogicalId(syncFlow.functions[id]!.node.defaultChild as never), 'Arn'] });

/** Statements of the separate pull policy attached to a capture function's role. */
function pullStatements(id: string): Record<string, unknown>[] {
  const roleId = stack.getLogicalId(syncFlow.functions[id]!.role!.node.defaultChild as never);
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }], PolicyName: Match.stringLikeRegexp('pullpolicy') } });
  return Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument.Statement);
}

describe('schedule sources', () => {
  it('creates one EventBridge Scheduler schedule per source with its rate or cron, a retry policy and a DLQ', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: fnRef('capture-files'),
        Input: JSON.stringify({ action: 'schedule', sourceId: 'files' }),
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 2 },
        DeadLetterConfig: { Arn: Match.objectLike({ 'Fn::GetAtt': [Match.stringLikeRegexp('capturefilesscheduledlq'), 'Arn'] }) },
      }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 3 ? * 2 *)', Target: Match.objectLike({ Arn: fnRef('capture-api') }) });
  });

  it('sends a pull that fails after Lambda retries its asynchronous invocation to the schedule DLQ, which the function may write', () => {
    const dlq = { 'Fn::GetAtt': [Match.stringLikeRegexp('capturefilesscheduledlq'), 'Arn'] };
    const roleId = stack.getLogicalId(syncFlow.functions['capture-files']!.role!.node.defaultChild as never);
    const pullPolicy = Object.keys(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }], PolicyName: Match.stringLikeRegexp('pullpolicy') } }))[0]!;
    // Lambda checks the role's permission to send when the config is created, so it comes after the policy.
    template.hasResource('AWS::Lambda::EventInvokeConfig', {
      Properties: {
        FunctionName: { Ref: stack.getLogicalId(syncFlow.functions['capture-files']!.node.defaultChild as never) },
        Qualifier: Match.anyValue(),
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 3600,
        DestinationConfig: { OnFailure: { Destination: Match.objectLike(dlq) } },
      },
      DependsOn: Match.arrayWith([pullPolicy]),
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).flatMap(
      (p) => (p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement,
    );
    expect(statements.some((st) => JSON.stringify(st.Action).includes('sqs:SendMessage') && /capturefilesscheduledlq/.test(JSON.stringify(st.Resource)))).toBe(true);
  });

  it('lets the S3 pull list the bucket under its prefix and read only objects there', () => {
    const statements = pullStatements('capture-files');
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['people/*'] } }, Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-exports']] } }),
    );
    expect(statements).toContainEqual(expect.objectContaining({ Action: 's3:GetObject', Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-exports/people/*']] } }));
    expect(JSON.stringify(statements)).not.toContain('secretsmanager');
  });

  it('lets the HTTP pull read only its named auth secret, and no bucket', () => {
    const statements = pullStatements('capture-api');
    const secret = statements.find((s) => JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue'))!;
    expect(JSON.stringify(secret.Resource)).toContain(':secret:crm/token-??????');
    expect(JSON.stringify(statements)).not.toContain('s3:');
  });

  it('grants the state table read/write and the self-invoke that continues a long pull', () => {
    const statements = pullStatements('capture-files');
    const stateId = stack.getLogicalId(store.state.node.defaultChild as never);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [stateId, 'Arn'] },
      }),
    );
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'lambda:InvokeFunction', Resource: fnRef('capture-files') }));
  });

  it('gives pull functions a long timeout and more memory, and the capture environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: Match.anyValue(),
      MemorySize: 1024,
      Environment: { Variables: Match.objectLike({ SOURCE_ID: 'files', STATE_TABLE: Match.anyValue(), TRANSFORM_QUEUE_URL: Match.anyValue() }) },
    });
  });
});

describe('schedule expressions', () => {
  it('turns every into a whole-minute rate', () => {
    expect(rateOf('5 minutes').toMinutes()).toBe(5);
    expect(rateOf('120s').toMinutes()).toBe(2);
    expect(rateOf('2 hours').toHours()).toBe(2);
    expect(rateOf('1 day').toDays()).toBe(1);
  });
  it('refuses what is not whole minutes rather than rounding it', () => {
    expect(() => rateOf('90s')).toThrow(/not whole minutes/);
    expect(() => rateOf('30 seconds')).toThrow(/not whole minutes/);
    expect(() => rateOf('5 hippos')).toThrow(/invalid duration/);
  });
  it('accepts EventBridge crons and converts five-field Unix crons', () => {
    expect(cronExpression('cron(0 12 * * ? *)')).toBe('cron(0 12 * * ? *)');
    expect(cronExpression('15 2 * * *')).toBe('cron(15 2 * * ? *)');
    expect(cronExpression('0 3 * * 0,6')).toBe('cron(0 3 ? * 1,7 *)');
    expect(() => cronExpression('* *')).toThrow(/5 \(Unix\) or 6/);
  });
});

import { Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import type { SyncFlow } from '../../lib/constructs/sync-flow';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, flowLike, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

/** Lambda's limit on a function's environment variables (names and values). */
const ENV_LIMIT = 4096;

let stack: SyncStack;
let template: Template;

beforeAll(() => {
  // Prepare: the example flow, a flow with a stream source (an on-failure queue) and a flow with every target type.
  const streams = {
    ...flowLike('streams'),
    sources: [
      { id: 'crm', type: 'webhook' },
      { id: 'primary', type: 'dynamodb-stream', streamArn: 'arn:aws:dynamodb:eu-west-1:111122223333:table/primary/stream/2026-01-01T00:00:00.000' },
    ],
  };
  const config = parseConfig({ ...exampleConfigInput(), flows: [...(exampleConfigInput().flows as unknown[]), streams, everyTargetFlow()] });
  ({ stack, template } = synthStack(config, 'Admin'));
});

const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
const routes = () => Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties as { RouteKey: string; AuthorizationType: string; Target: unknown });

describe('admin routes', () => {
  it('serve each flow from its own admin function, behind IAM authorization', () => {
    for (const [flowId, flow] of Object.entries(stack.flows)) {
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: { IntegrationUri: { 'Fn::GetAtt': [logicalId(flow.adminFunction), 'Arn'] } },
      });
      expect(Object.keys(integrations), flowId).toHaveLength(1);
      const target = { 'Fn::Join': ['', ['integrations/', { Ref: Object.keys(integrations)[0] }]] };
      const served = routes().filter((r) => JSON.stringify(r.Target) === JSON.stringify(target));
      expect(served.map((r) => r.RouteKey).sort(), flowId).toEqual([`GET /flows/${flowId}`, `GET /flows/${flowId}/{proxy+}`, `POST /flows/${flowId}/{proxy+}`]);
      for (const r of served) expect(r.AuthorizationType, r.RouteKey).toBe('AWS_IAM');
    }
  });

  it('serve GET /flows from the stack-level flow list function, behind IAM authorization', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /flows', AuthorizationType: 'AWS_IAM' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', { IntegrationUri: { 'Fn::GetAtt': [logicalId(stack.flowListFunction), 'Arn'] } });
  });

  it('leave the webhook routes signature-only, with no authorizer', () => {
    const webhooks = routes().filter((r) => r.RouteKey.startsWith('POST /webhooks/'));
    expect(webhooks.length).toBeGreaterThanOrEqual(3);
    for (const r of webhooks) expect(r.AuthorizationType, r.RouteKey).toBe('NONE');
    // Every route is one or the other.
    expect(routes().filter((r) => r.AuthorizationType !== 'NONE').every((r) => r.RouteKey === 'GET /flows' || / \/flows\/[a-z0-9-]+(\/\{proxy\+\})?$/.test(r.RouteKey))).toBe(true);
  });
});

describe('the admin function', () => {
  it('exists once per flow, with the baked flow config and its resources by name', () => {
    const admins = Object.values(stack.flows).map((f) => f.adminFunction);
    expect(new Set(admins).size).toBe(3);
    for (const flow of Object.values(stack.flows)) {
      // The names are in FLOW_RESOURCES, or in an SSM parameter when they could pass 4 KB (every-target).
      const names = flow.flowPlan.flow.id === 'every-target' ? { SYNCLINE_ENVIRONMENT_PARAMETER: Match.anyValue() } : { FLOW_RESOURCES: Match.anyValue() };
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `syncline ${flow.flowPlan.flow.id}: admin API (IAM-authorized)`,
        Timeout: 29,
        Environment: {
          Variables: Match.objectLike({
            ...names,
            SQS_URL_PREFIX: Match.anyValue(),
            SQS_ARN_PREFIX: Match.anyValue(),
            API_ENDPOINT: Match.anyValue(),
            STATE_TABLE: { Ref: logicalId(stack.store.state) },
            HASH_KEY_SECRET_ARN: { Ref: logicalId(stack.store.hashKeySecret) },
          }),
        },
      });
    }
  });

  it('has exactly the permissions its use cases need', () => {
    // Prepare
    const flow = stack.flows.streams!;
    const r = (token: string) => stack.resolve(token);
    const table = (t: 'state' | 'audit' | 'conflicts' | 'quarantine') => r(stack.store[t].tableArn);
    const queues = Object.keys(flow.queues);
    const logGroup = { 'Fn::GetAtt': [stack.getLogicalId(flow.adminFunction.functionLogGroup!.node.defaultChild as never), 'Arn'] };
    const expected: [string, unknown][] = [
      ['dynamodb:BatchGetItem', table('state')],
      ['dynamodb:Query', table('audit')],
      ['dynamodb:Query', { 'Fn::Join': ['', [table('audit'), '/index/byFlowTime']] }],
      ['dynamodb:BatchWriteItem', table('audit')],
      ...(['dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'] as const).map((a): [string, unknown] => [a, table('conflicts')]),
      ['dynamodb:Query', { 'Fn::Join': ['', [table('conflicts'), '/index/openByFlow']] }],
      // Quarantine listings page through the time index (the table itself while the index is being built).
      ...(['dynamodb:Query', 'dynamodb:BatchGetItem', 'dynamodb:DeleteItem'] as const).map((a): [string, unknown] => [a, table('quarantine')]),
      ['dynamodb:Query', { 'Fn::Join': ['', [table('quarantine'), '/index/byFlowAt']] }],
      // Resolutions go to the resolve queue, quarantine replays to the transform queue, record replays
      // (`syncline replay`) to each deliver queue (by URL: no GetQueueUrl).
      ...['resolve', 'transform', ...flow.flowPlan.flow.targets.map((t) => `deliver-${t.id}`)].map((id): [string, unknown] => ['sqs:SendMessage', r(flow.queues[id]!.queueArn)]),
      // Depths and RedrivePolicy of every queue, DLQ and stream on-failure queue.
      ...[...queues.map((id) => flow.queues[id]!), ...queues.map((id) => flow.deadLetterQueues[id]!), flow.streamFailureQueues.primary!].map((q): [string, unknown] => ['sqs:GetQueueAttributes', r(q.queueArn)]),
      ['secretsmanager:GetSecretValue', r(stack.store.hashKeySecret.secretArn)],
      ['s3:PutObject', { 'Fn::Join': ['', [r(stack.store.payloadBucket.bucketArn), '/claims/*']] }],
      // The delivery a DynamoDB target records on its items (only their `_syncline` attribute), for record and lineage.
      ...Object.values(flow.targetTables).map((t): [string, unknown] => ['dynamodb:GetItem', r(t.tableArn)]),
      ['logs:CreateLogStream', logGroup],
      ['logs:PutLogEvents', logGroup],
      // X-Ray has no resource-level permissions.
      ['xray:PutTraceSegments', '*'],
      ['xray:PutTelemetryRecords', '*'],
    ];

    // Act
    const granted = grantedPairs(flow.adminFunction);

    // Assess
    const key = ([a, res]: [string, unknown]) => `${a} ${JSON.stringify(res)}`;
    expect(granted.map(key).sort()).toEqual([...new Set(expected.map(key))].sort());
  });

  it("gives the flow list function nothing beyond its logs and tracing", () => {
    const actions = grantedPairs(stack.flowListFunction).map(([a]) => a);
    expect([...new Set(actions)].sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  it('keeps its environment within Lambda’s 4 KB, even for a flow with every target type (7 targets, 9 queues, 9 functions)', () => {
    for (const flow of Object.values(stack.flows)) {
      const size = envSize(flow);
      expect(size, flow.flowPlan.flow.id).toBeLessThan(ENV_LIMIT);
    }
  });
});

describe('outputs and cdk-nag', () => {
  it('output the admin API URL and the API id for execute-api policies', () => {
    template.hasOutput('AdminApiUrl', { Value: Match.anyValue() });
    template.hasOutput('ApiId', { Value: { Ref: logicalId(stack.httpApi) } });
  });

  it('reports no unacknowledged AwsSolutions finding', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((x) => x.constructPath).join(', ')}`)).toEqual([]);
  });
});

/** Every (action, resource) pair the policies of a function's role allow, as in the template. */
function grantedPairs(fn: { role?: { node: { defaultChild?: unknown } } }): [string, unknown][] {
  const roleId = stack.getLogicalId(fn.role!.node.defaultChild as never);
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
  return Object.values(policies).flatMap((p) =>
    (p.Properties.PolicyDocument.Statement as { Effect: string; Action: string | string[]; Resource: unknown }[]).flatMap((s) => {
      expect(s.Effect).toBe('Allow');
      return [s.Action].flat().flatMap((a) => [s.Resource].flat().map((res): [string, unknown] => [a, res]));
    }),
  );
}

/**
 * A deploy-time upper bound of the admin function's environment size: literals count as they are, pseudo
 * parameters at their longest, and every other reference (a generated name or ARN) at 100 characters, more than
 * CloudFormation generates for queue (80), function (64) and table names.
 */
function envSize(flow: SyncFlow): number {
  const fn = template.findResources('AWS::Lambda::Function', { Properties: { Description: `syncline ${flow.flowPlan.flow.id}: admin API (IAM-authorized)` } });
  const env = Object.values(fn)[0]!.Properties.Environment.Variables as Record<string, unknown>;
  const pseudo: Record<string, number> = { 'AWS::Region': 14, 'AWS::AccountId': 12, 'AWS::URLSuffix': 16, 'AWS::Partition': 10 };
  const size = (v: unknown): number => {
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.reduce((n: number, x) => n + size(x), 0);
    const o = v as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return size(parts) + Buffer.byteLength(sep) * Math.max(0, parts.length - 1);
    }
    if ('Ref' in o && typeof o.Ref === 'string' && pseudo[o.Ref]) return pseudo[o.Ref]!;
    return 100;
  };
  expect(Stack.of(flow)).toBe(stack);
  return Object.entries(env).reduce((n, [k, v]) => n + Buffer.byteLength(k) + size(v), 0);
}

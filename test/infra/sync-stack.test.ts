import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { CfnResource } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfig, synthStack } from './helpers';

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

let stack: SyncStack;
let template: Template;
let resources: Record<string, Resource>;

const FLOW = 'crm-contacts';
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnResource);
const fnId = (planId: string) => logicalId(stack.flows[FLOW].functions[planId]);

/** The statements of the policy attached to a function's role. */
function statementsOf(planId: string): { Effect: string; Action: string | string[]; Resource: unknown }[] {
  const fn = resources[fnId(planId)];
  const roleId = ((fn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'])[0];
  const policies = Object.values(resources).filter(
    (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
  );
  return policies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: never[] }).Statement);
}
const actionsOn = (planId: string, resourceLogicalId: string): string[] =>
  statementsOf(planId)
    .filter((s) => JSON.stringify(s.Resource).includes(`"${resourceLogicalId}"`))
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

beforeAll(() => {
  // Prepare: synthesize the example config of cdk.json once, without bundling.
  ({ stack, template } = synthStack(exampleConfig()));
  resources = template.toJSON().Resources as Record<string, Resource>;
});

describe('Lambda functions', () => {
  it('run Node.js 24 on arm64 with active tracing and JSON logs into a one-month log group', () => {
    for (const id of ['capture-crm', 'transform', 'resolve', 'deliver-replica']) {
      const fn = resources[fnId(id)];
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } },
      });
      const logGroupId = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
    }
  });

  it('take timeout and memory from the plan', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('capture'), Timeout: 29, MemorySize: 512 });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('deliver'), Timeout: 30, MemorySize: 256 });
  });

  it('get exactly the environment their step reads, and never the flow config', () => {
    const tables = { STATE_TABLE: Match.anyValue(), AUDIT_TABLE: Match.anyValue(), QUARANTINE_TABLE: Match.anyValue(), CONFLICT_TABLE: Match.anyValue(), DEDUP_TABLE: Match.anyValue() };
    // Every step sends to or consumes a syncline queue, so every one may use the claim check.
    const payloads = { PAYLOAD_BUCKET: { Ref: logicalId(stack.store.payloadBucket as never) } };
    const common = { ...tables, ...payloads, NODE_OPTIONS: '--enable-source-maps', POWERTOOLS_SERVICE_NAME: `syncline-${FLOW}`, POWERTOOLS_METRICS_NAMESPACE: 'Syncline' };
    const expected: Record<string, Record<string, unknown>> = {
      'capture-crm': { ...common, SOURCE_ID: 'crm', WEBHOOK_SECRET_ARN: { Ref: logicalId(stack.flows[FLOW].webhookSecrets.crm) }, TRANSFORM_QUEUE_URL: Match.anyValue() },
      // Each consumer of packs also gets its own queue, where the failed records of a pack go back.
      transform: { ...common, RESOLVE_QUEUE_URL: Match.anyValue(), TRANSFORM_QUEUE_URL: Match.anyValue(), HASH_KEY_SECRET_ARN: { Ref: logicalId(stack.store.hashKeySecret as never) } },
      resolve: { ...common, DELIVER_QUEUE_URLS: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('"replica"')])] }, RESOLVE_QUEUE_URL: Match.anyValue() },
      'deliver-replica': { ...common, TARGET_ID: 'replica', TARGET_TABLE: { Ref: logicalId(stack.flows[FLOW].targetTables.replica as never) }, DELIVER_QUEUE_URLS: Match.anyValue(), DLQ_URL: Match.anyValue() },
    };
    for (const [id, variables] of Object.entries(expected)) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: resources[fnId(id)].Properties.Description,
        Environment: { Variables: Match.objectEquals(variables) },
      });
    }
    const envText = JSON.stringify(Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function').map((r) => r.Properties.Environment));
    for (const fragment of ['field-lww', 'firstName', '__SYNCLINE_FLOW__', 'contact.deleted']) expect(envText).not.toContain(fragment);
  });
});

describe('SQS queues', () => {
  it('give every step queue a DLQ after 5 receives, SQS-managed encryption, and 14-day DLQ retention', () => {
    const flow = stack.flows[FLOW];
    expect(Object.keys(flow.queues).sort()).toEqual(['deliver-replica', 'resolve', 'transform']);
    for (const [id, queue] of Object.entries(flow.queues)) {
      template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(flow.deadLetterQueues[id]), 'Arn'] } },
      });
      expect(resources[logicalId(queue)].Properties.RedrivePolicy).toBeDefined();
      expect(resources[logicalId(flow.deadLetterQueues[id])].Properties).toMatchObject({ MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true });
    }
  });

  it('keep messages invisible for at least 6 times the consuming function timeout', () => {
    const mappings = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(3);
    for (const m of mappings) {
      const queueId = (m.Properties.EventSourceArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
      const fn = resources[(m.Properties.FunctionName as { Ref: string }).Ref];
      expect(resources[queueId].Properties.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * (fn.Properties.Timeout as number));
    }
  });

  it('deny every request that does not use TLS, on step queues and DLQs alike', () => {
    const flow = stack.flows[FLOW];
    for (const queue of [...Object.values(flow.queues), ...Object.values(flow.deadLetterQueues)]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalId(queue) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
          ]),
        },
      });
    }
  });
});

describe('event source mappings', () => {
  it('report partial batch failures with the batch size and window of the plan', () => {
    const flow = stack.flows[FLOW];
    for (const [fnPlanId, queueId, batchSize] of [
      ['transform', 'transform', 100],
      ['resolve', 'resolve', 100],
      ['deliver-replica', 'deliver-replica', 50],
    ] as const) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: fnId(fnPlanId) },
        EventSourceArn: { 'Fn::GetAtt': [logicalId(flow.queues[queueId]), 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: batchSize,
        MaximumBatchingWindowInSeconds: 1,
      });
    }
  });
});

describe('DynamoDB tables', () => {
  it('are on-demand, with point-in-time recovery and AWS-managed encryption, and retained by default', () => {
    const tables = Object.values(resources).filter((r) => r.Type === 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(6);
    for (const t of tables) {
      expect(t.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
      expect(t.DeletionPolicy).toBe('RetainExceptOnCreate');
      expect(t.UpdateReplacePolicy).toBe('Retain');
    }
  });

  it('expire audit, quarantine and dedup items by TTL, and index the audit trail by flow hour and time', () => {
    const { store } = stack;
    expect(resources[logicalId(store.audit as never)].Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byFlowTime',
          KeySchema: [{ AttributeName: 'flowHour', KeyType: 'HASH' }, { AttributeName: 'at', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      AttributeDefinitions: expect.arrayContaining([{ AttributeName: 'at', AttributeType: 'N' }, { AttributeName: 'flowHour', AttributeType: 'S' }]),
    });
    for (const t of [store.quarantine, store.dedup]) {
      expect(resources[logicalId(t as never)].Properties).toMatchObject({ TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } });
    }
    expect(resources[logicalId(store.state as never)].Properties.TimeToLiveSpecification).toBeUndefined();
  });

  it('index quarantined records by flow and time, so a listing reads one page', () => {
    expect(resources[logicalId(stack.store.quarantine as never)].Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byFlowAt',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'at', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      AttributeDefinitions: expect.arrayContaining([{ AttributeName: 'at', AttributeType: 'N' }, { AttributeName: 'pk', AttributeType: 'S' }]),
    });
  });

  it('expire closed conflicts by TTL, and index open conflicts by flow and opening time', () => {
    expect(resources[logicalId(stack.store.conflicts as never)].Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'openByFlow',
          KeySchema: [{ AttributeName: 'openFlow', KeyType: 'HASH' }, { AttributeName: 'openedAt', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      AttributeDefinitions: expect.arrayContaining([{ AttributeName: 'openedAt', AttributeType: 'N' }, { AttributeName: 'openFlow', AttributeType: 'S' }]),
    });
  });

  it('create the target table keyed by the target keyAttribute', () => {
    expect(resources[logicalId(stack.flows[FLOW].targetTables.replica as never)].Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    });
  });
});

describe('IAM: each function gets only what its step needs', () => {
  const ids = () => ({
    state: logicalId(stack.store.state as never),
    audit: logicalId(stack.store.audit as never),
    quarantine: logicalId(stack.store.quarantine as never),
    conflicts: logicalId(stack.store.conflicts as never),
    dedup: logicalId(stack.store.dedup as never),
    hashKey: logicalId(stack.store.hashKeySecret as never),
    webhookSecret: logicalId(stack.flows[FLOW].webhookSecrets.crm),
    target: logicalId(stack.flows[FLOW].targetTables.replica as never),
    queue: (id: string) => logicalId(stack.flows[FLOW].queues[id]),
  });

  it('capture: claims, confirms and releases webhook ids, appends audit and quarantine, reads its webhook secret, sends to transform; no state', () => {
    const r = ids();
    expect(actionsOn('capture-crm', r.dedup).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(actionsOn('capture-crm', r.audit)).toEqual(['dynamodb:BatchWriteItem']);
    expect(actionsOn('capture-crm', r.quarantine)).toEqual(['dynamodb:BatchWriteItem']);
    expect(actionsOn('capture-crm', r.webhookSecret)).toEqual(['secretsmanager:GetSecretValue']);
    expect(actionsOn('capture-crm', r.queue('transform'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    for (const other of [r.state, r.conflicts, r.hashKey, r.target, r.queue('resolve')]) expect(actionsOn('capture-crm', other)).toEqual([]);
  });

  it('transform: consumes its queue, sends to resolve, appends audit and quarantine, reads the hash key', () => {
    const r = ids();
    expect(actionsOn('transform', r.queue('transform'))).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    expect(actionsOn('transform', r.queue('resolve'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(actionsOn('transform', r.audit)).toEqual(['dynamodb:BatchWriteItem']);
    expect(actionsOn('transform', r.quarantine)).toEqual(['dynamodb:BatchWriteItem']);
    expect(actionsOn('transform', r.hashKey)).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
    for (const other of [r.state, r.dedup, r.conflicts, r.webhookSecret, r.target]) expect(actionsOn('transform', other)).toEqual([]);
  });

  it('resolve: reads and conditionally updates state, records conflicts, quarantines a record too large for its state, sends to deliver queues; no webhook secret', () => {
    const r = ids();
    expect(actionsOn('resolve', r.state).sort()).toEqual(['dynamodb:BatchGetItem', 'dynamodb:UpdateItem']);
    expect(actionsOn('resolve', r.conflicts)).toEqual(['dynamodb:PutItem']);
    expect(actionsOn('resolve', r.audit)).toEqual(['dynamodb:BatchWriteItem']);
    expect(actionsOn('resolve', r.quarantine)).toEqual(['dynamodb:BatchWriteItem']);
    expect(actionsOn('resolve', r.queue('resolve'))).toEqual(expect.arrayContaining(['sqs:ReceiveMessage']));
    expect(actionsOn('resolve', r.queue('deliver-replica'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    for (const other of [r.webhookSecret, r.hashKey, r.dedup, r.target]) expect(actionsOn('resolve', other)).toEqual([]);
  });

  it("deliver: reads state, records its target's tombstones and reads them back in batches, puts and deletes on its target table only", () => {
    const r = ids();
    expect(actionsOn('deliver-replica', r.target).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:PutItem']);
    expect(actionsOn('deliver-replica', r.state).sort()).toEqual(['dynamodb:BatchGetItem', 'dynamodb:UpdateItem']);
    expect(actionsOn('deliver-replica', r.audit)).toEqual(['dynamodb:BatchWriteItem']);
    for (const other of [r.webhookSecret, r.hashKey, r.dedup, r.conflicts, r.quarantine, r.queue('resolve')]) expect(actionsOn('deliver-replica', other)).toEqual([]);
  });

  it('uses "*" resources only for X-Ray, and no managed policies', () => {
    for (const id of ['capture-crm', 'transform', 'resolve', 'deliver-replica']) {
      for (const s of statementsOf(id).filter((s) => s.Resource === '*')) {
        for (const action of [s.Action].flat()) expect(action).toMatch(/^xray:/);
      }
    }
    for (const role of Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe('webhooks', () => {
  it('have one generated secret per webhook source, valid as whsec_<value>, plus a 64-character hash key', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true },
      Description: Match.stringLikeRegexp('crm-contacts/crm'),
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true } });
  });

  it('route POST /webhooks/{flow}/{source} and POST /webhooks/{flow} to the capture function with payload 2.0', () => {
    for (const path of [`/webhooks/${FLOW}/crm`, `/webhooks/${FLOW}`]) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: `POST ${path}`, AuthorizationType: 'NONE' });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [fnId('capture-crm'), 'Arn'] },
    });
  });

  it('throttle the API stage (so the API answers 429) and log access as JSON', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingBurstLimit: 200, ThrottlingRateLimit: 100 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
    });
  });

  it('output the webhook URL and the secret ARN of each source', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Description: string; Value: unknown }>;
    const url = Object.values(outputs).find((o) => o.Description.includes('webhook URL'));
    expect(JSON.stringify(url?.Value)).toContain(`/webhooks/${FLOW}/crm`);
    const arn = Object.values(outputs).find((o) => o.Description.includes('ARN of the webhook signing secret'));
    expect(arn?.Value).toEqual({ Ref: logicalId(stack.flows[FLOW].webhookSecrets.crm) });
  });
});

import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { SyncStack } from '../../lib/stacks/sync-stack';
import { DEPLOY_ENV_CONTEXT } from '../../lib/constructs/deploy-env';
import { exampleConfigInput, placeholderProjectRoot, synthStack, testApp } from './helpers';

const STREAM_ARN = 'arn:aws:dynamodb:eu-west-1:111122223333:table/Orders/stream/2026-01-01T00:00:00.000';

/** One flow with a source of every kind this stack deploys without a scheduler. */
function sourcesConfig() {
  return parseConfig({
    ...exampleConfigInput(),
    flows: [
      {
        id: 'people',
        key: ['id'],
        sources: [
          { id: 'pg', type: 'webhook', format: 'debezium', table: { include: ['public.customers'] } },
          { id: 'ddb', type: 'dynamodb-stream', tableName: 'people-primary', filter: { status: ['active'], score: [{ numeric: ['>', 1] }] }, attributes: { exclude: ['secret'] } },
          { id: 'orders', type: 'dynamodb-stream', streamArn: STREAM_ARN },
          { id: 'inbox', type: 'sqs' },
          { id: 'bus', type: 'eventbridge', busName: 'crm-bus', pattern: { source: ['crm'], 'detail-type': ['ContactChanged'] } },
        ],
        targets: [{ id: 'replica', type: 'dynamodb', tableName: 'people-replica' }],
      },
    ],
  });
}

let stack: SyncStack;
let template: Template;

beforeAll(() => {
  // Prepare: synthesize once (bundling skipped).
  ({ stack, template } = synthStack(sourcesConfig(), 'Sources'));
});

const fnLogicalId = (id: string) => stack.getLogicalId(stack.flows.people!.functions[id]!.node.defaultChild as never);
const queueLogicalId = (q: { node: { defaultChild?: unknown } }) => stack.getLogicalId(q.node.defaultChild as never);

describe('dynamodb-stream sources', () => {
  it('map the stream with TRIM_HORIZON, bisection, bounded retries and age, an SQS on-failure destination and partial batch responses', () => {
    const failure = stack.flows.people!.streamFailureQueues.ddb!;
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnLogicalId('capture-ddb') },
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86400,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueLogicalId(failure), 'Arn'] } } },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('sourceddbstreamarn'), 'StreamArn'] },
    });
  });

  it("refuse a streamArn of another region than the stack's, and take one of its own", () => {
    // Prepare: the example flow with the orders stream of eu-west-1 only.
    const config = parseConfig({ ...exampleConfigInput(), flows: [{ ...(exampleConfigInput().flows as Record<string, unknown>[])[0], sources: [{ id: 'orders', type: 'dynamodb-stream', streamArn: STREAM_ARN }] }] });
    const stackIn = (region: string) => () => new SyncStack(testApp(), `In-${region}`, { config, projectRoot: placeholderProjectRoot(), env: { account: '111122223333', region } });

    // Act / Assess
    expect(stackIn('us-east-1')).toThrow(/source "orders": streamArn is a stream of eu-west-1, but the stack deploys to us-east-1; Lambda reads DynamoDB streams of its own region only/);
    expect(stackIn('eu-west-1')).not.toThrow();
  });

  it('warn for a stack without env when the CDK CLI targets another region (bin/app.ts puts its target in context)', () => {
    // Prepare: an environment-agnostic stack, as bin/app.ts makes, with the CLI's target region in context. The CLI
    // guesses us-east-1 when nothing names a region, so a mismatch is only likely: a warning, not a refusal.
    const config = parseConfig({ ...exampleConfigInput(), flows: [{ ...(exampleConfigInput().flows as Record<string, unknown>[])[0], sources: [{ id: 'orders', type: 'dynamodb-stream', streamArn: STREAM_ARN }] }] });
    const targeting = (region: string) => {
      const app = testApp();
      app.node.setContext(DEPLOY_ENV_CONTEXT, { region });
      return new SyncStack(app, `Agnostic-${region}`, { config, projectRoot: placeholderProjectRoot() });
    };
    const warnings = (s: SyncStack) => Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('streamArn is a stream of eu-west-1, but the CDK CLI targets'));

    // Act / Assess
    expect(warnings(targeting('us-east-1'))).toHaveLength(1);
    expect(warnings(targeting('eu-west-1'))).toEqual([]);
  });

  it('push the expressible part of the filter down and let deletes through', () => {
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: fnLogicalId('capture-ddb') } } }))[0] as {
      Properties: { FilterCriteria: { Filters: { Pattern: string }[] } };
    };
    const patterns = mapping.Properties.FilterCriteria.Filters.map((f) => JSON.parse(f.Pattern));
    expect(patterns).toEqual([
      { dynamodb: { NewImage: { status: { S: ['active'] } } } },
      { dynamodb: { NewImage: { status: { SS: ['active'] } } } },
      { dynamodb: { NewImage: { status: { L: { S: ['active'] } } } } },
      { eventName: ['REMOVE'] },
    ]);
  });

  it('read the stream ARN of a named table at deploy time, on every deploy, with DescribeTable on that table only', () => {
    const lookups = template.findResources('Custom::SynclineStreamArn');
    expect(Object.values(lookups).map((r) => (r as { Properties: Record<string, unknown> }).Properties)).toEqual([
      expect.objectContaining({ TableName: 'people-primary', Source: 'people/ddb', Deployment: expect.any(String) }),
    ]);
    // A second synth gives the lookup new properties, so CloudFormation runs it again and sees a re-enabled stream.
    const again = synthStack(sourcesConfig(), 'Sources').template.findResources('Custom::SynclineStreamArn');
    expect(Object.values(again).map((r) => (r as { Properties: { Deployment: string } }).Properties.Deployment)).not.toEqual(
      Object.values(lookups).map((r) => (r as { Properties: { Deployment: string } }).Properties.Deployment),
    );
    const lookupRole = stack.flows.people!.streamArnLookups.ddb!.function.role!;
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: stack.getLogicalId(lookupRole.node.defaultChild as never) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'dynamodb:DescribeTable',
            Resource: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':table/people-primary$')])] },
          },
        ]),
      },
    });
    const describeGrants = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[] }[] } } }).Properties.PolicyDocument.Statement)
      .filter((st) => [st.Action].flat().includes('dynamodb:DescribeTable') && [st.Action].flat().length === 1);
    expect(describeGrants).toHaveLength(1);
  });

  it('use a given stream ARN as it is, without a lookup, and map it with an on-failure queue too', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnLogicalId('capture-orders') },
      EventSourceArn: STREAM_ARN,
      StartingPosition: 'TRIM_HORIZON',
      FilterCriteria: Match.absent(),
    });
    expect(Object.keys(stack.flows.people!.streamArnLookups)).toEqual(['ddb']);
  });

  it('grant stream reads on that stream only, and no webhook secret or dedup table', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('captureordersRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'], Resource: STREAM_ARN }),
        ]),
      },
    });
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('captureordersRole') }] } });
    const text = JSON.stringify(policies);
    expect(text).not.toContain('secretsmanager:');
    expect(text).not.toContain('dynamodb:PutItem');
  });

  it('let the capture function scan its own source table and read its item count (backfill), on exactly that table', () => {
    // Statements of a function's role that touch Scan or DescribeTable.
    const readsOf = (fnId: string) =>
      Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp(`${fnId.replace(/-/g, '')}Role`) }] } })).flatMap(
        (p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement,
      ).filter((st) => [st.Action].flat().some((a) => a === 'dynamodb:Scan' || a === 'dynamodb:DescribeTable'));
    const tableArn = (name: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':dynamodb:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:table/${name}`]] });

    expect(readsOf('capture-ddb')).toEqual([{ Action: ['dynamodb:DescribeTable', 'dynamodb:Scan'], Effect: 'Allow', Resource: tableArn('people-primary') }]);
    // Given by stream ARN: the table ARN that the stream ARN starts with.
    expect(readsOf('capture-orders')).toEqual([{ Action: ['dynamodb:DescribeTable', 'dynamodb:Scan'], Effect: 'Allow', Resource: 'arn:aws:dynamodb:eu-west-1:111122223333:table/Orders' }]);
    // No other function of the flow may scan anything.
    const scanners = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) => JSON.stringify(p).includes('dynamodb:Scan'));
    expect(scanners.map(([id]) => id).sort()).toEqual([expect.stringMatching(/captureddbRole/), expect.stringMatching(/captureordersRole/)]);
  });

  it('tell the capture function which table to scan: the name, or the table ARN of a stream ARN source', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SOURCE_ID: 'ddb', SOURCE_TABLE: 'people-primary' }) } });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ SOURCE_ID: 'orders', SOURCE_TABLE: 'arn:aws:dynamodb:eu-west-1:111122223333:table/Orders' }) } });
  });

  it('keep TLS-only, encrypted on-failure queues', () => {
    const failure = stack.flows.people!.streamFailureQueues.ddb!;
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueLogicalId(failure) }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('warn at synth when more than 2 sources read one table\'s stream (DynamoDB Streams serves 2 readers a shard), by name or by stream ARN', () => {
    // Prepare: a second and a third reader of Orders, the third in another flow; people-primary keeps one.
    const flow = (id: string, sources: unknown[]) => ({ id, key: ['id'], sources, targets: [{ id: 'replica', type: 'dynamodb' }] });
    const config = parseConfig({
      ...exampleConfigInput(),
      flows: [
        ...sourcesConfig().flows,
        flow('orders-copy', [{ id: 'orders', type: 'dynamodb-stream', tableName: 'Orders' }]),
        flow('orders-audit', [{ id: 'changes', type: 'dynamodb-stream', streamArn: STREAM_ARN }]),
      ],
    });

    // Act
    const { stack: shared } = synthStack(config, 'SharedStream');

    // Assess
    const warnings = Annotations.fromStack(shared).findWarning('*', Match.stringLikeRegexp('DynamoDB stream of table'));
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toContain('3 sources read the DynamoDB stream of table Orders (people/orders, orders-copy/orders, orders-audit/changes)');
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('DynamoDB stream of table'))).toEqual([]);
  });

  it('pass the source id and transform queue but no webhook secret to the function', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SOURCE_ID: 'ddb', TRANSFORM_QUEUE_URL: Match.anyValue(), WEBHOOK_SECRET_ARN: Match.absent() }) },
    });
  });
});

describe('sqs sources', () => {
  it('get an inbound queue with a DLQ, consumed with partial batch responses, and its URL as an output', () => {
    const flow = stack.flows.people!;
    const inbound = flow.queues['inbound-inbox']!;
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [queueLogicalId(flow.deadLetterQueues['inbound-inbox']!), 'Arn'] }, maxReceiveCount: 5 },
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnLogicalId('capture-inbox') },
      EventSourceArn: { 'Fn::GetAtt': [queueLogicalId(inbound), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const outputs = template.findOutputs('*', { Value: { Ref: queueLogicalId(inbound) } });
    expect(Object.keys(outputs)).toHaveLength(1);
  });
});

describe('eventbridge sources', () => {
  it('get a rule with the pattern on the named bus, targeting the inbound queue with its DLQ', () => {
    const flow = stack.flows.people!;
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'crm-bus',
      EventPattern: { source: ['crm'], 'detail-type': ['ContactChanged'] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [queueLogicalId(flow.queues['inbound-bus']!), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueLogicalId(flow.deadLetterQueues['inbound-bus']!), 'Arn'] } },
        }),
      ],
    });
  });

  it('let only that rule send to the inbound queue', () => {
    const flow = stack.flows.people!;
    const ruleId = stack.getLogicalId(flow.eventRules.bus!.node.defaultChild as never);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueLogicalId(flow.queues['inbound-bus']!) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
          }),
        ]),
      },
    });
  });
});

describe('eventbridge sources on a bus given by ARN', () => {
  const BUS = 'arn:aws:events:eu-west-1:111122223333:event-bus/partner-bus';
  const config = () => parseConfig({ ...exampleConfigInput(), flows: [{ ...(exampleConfigInput().flows as Record<string, unknown>[])[0], sources: [{ id: 'bus', type: 'eventbridge', busName: BUS, pattern: { source: ['crm'] } }] }] });
  const stackIn = (account: string, region: string) => () => new SyncStack(testApp(), `Bus-${account}-${region}`, { config: config(), projectRoot: placeholderProjectRoot(), env: { account, region } });

  it("refuse a bus of another region or account than the stack's, whose rule could not deliver to the inbound queue, and take one of its own", () => {
    expect(stackIn('111122223333', 'us-east-1')).toThrow(/source "bus": busName arn:aws:events:eu-west-1:111122223333:event-bus\/partner-bus is a bus of eu-west-1, but the stack deploys to us-east-1/);
    expect(stackIn('444455556666', 'eu-west-1')).toThrow(/source "bus": busName .* is a bus of account 111122223333, not the stack's \(444455556666\)/);
    expect(stackIn('111122223333', 'eu-west-1')).not.toThrow();
    const app = testApp();
    app.node.setContext(DEPLOY_ENV_CONTEXT, { region: 'us-east-1' });
    const targeted = new SyncStack(app, 'BusTargeted', { config: config(), projectRoot: placeholderProjectRoot() });
    expect(Annotations.fromStack(targeted).findWarning('*', Match.stringLikeRegexp('is a bus of 111122223333/eu-west-1, but the CDK CLI targets \\(unknown account\\)/us-east-1'))).toHaveLength(1);
  });

  it('warn at synth that the bus must be the stack\'s own when the environment is not known', () => {
    const { stack: agnostic } = synthStack(config(), 'BusAgnostic');
    expect(Annotations.fromStack(agnostic).findWarning('*', Match.stringLikeRegexp("busName arn:aws:events:eu-west-1:111122223333:event-bus/partner-bus: the bus must be in the stack's account and region"))).toHaveLength(1);
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('the bus must be in'))).toEqual([]);
  });
});

describe('eventbridge source patterns', () => {
  it('warn at synth past the 2,048 characters EventBridge takes unless its quota was raised', () => {
    // Prepare
    const config = sourcesConfig();
    const bus = config.flows[0]!.sources.find((s) => s.id === 'bus') as { pattern: Record<string, unknown> };
    bus.pattern = { source: ['crm'], detail: { status: Array.from({ length: 150 }, (_, i) => `status-value-${i}`) } };

    // Act
    const { stack: wide } = synthStack(config, 'WidePattern');

    // Assess
    const warnings = Annotations.fromStack(wide).findWarning('*', Match.stringLikeRegexp('source "bus": its pattern has \\d+ characters; EventBridge takes 2048'));
    expect(warnings).toHaveLength(1);
  });
});

describe('debezium webhook sources', () => {
  it('are served like json webhooks: a route and a signing secret', () => {
    expect(stack.flows.people!.webhookUrls.pg).toBeDefined();
    expect(stack.flows.people!.webhookSecrets.pg).toBeDefined();
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged finding for the new sources', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('leaves no CDK warning or error annotation', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });
});

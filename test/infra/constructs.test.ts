import { CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SynclineFunction } from '../../lib/constructs/function-defaults';
import { SyncFlow } from '../../lib/constructs/sync-flow';
import { SyncStore } from '../../lib/constructs/sync-store';
import { planFlow } from '../../functions/plan/plan';
import { exampleConfig, placeholderProjectRoot, testApp } from './helpers';

let root: string;
beforeAll(() => {
  root = placeholderProjectRoot();
});

const entry = () => `${root}/functions/entry/transform.ts`;

describe('SynclineFunction', () => {
  it("keeps the caller's values over the defaults, and the other defaults", () => {
    const stack = new Stack(testApp(), 'Fn');
    new SynclineFunction(stack, 'Fn', { entry: entry(), depsLockFilePath: `${root}/package-lock.json`, timeout: Duration.seconds(7), memorySize: 1024, environment: { EXTRA: 'b' } });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 7,
      MemorySize: 1024,
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Environment: { Variables: { EXTRA: 'b', NODE_OPTIONS: '--enable-source-maps' } },
    });
  });

  it("uses the caller's log group instead of creating one", () => {
    const stack = new Stack(testApp(), 'Fn');
    const logGroup = new LogGroup(stack, 'Mine');
    const fn = new SynclineFunction(stack, 'Fn', { entry: entry(), depsLockFilePath: `${root}/package-lock.json`, logGroup });
    expect(fn.functionLogGroup).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::Logs::LogGroup', 1);
  });

  it('refuses Docker bundling and non-ESM output instead of overriding them', () => {
    const stack = new Stack(testApp(), 'Fn');
    const base = { entry: entry(), depsLockFilePath: `${root}/package-lock.json` };
    expect(() => new SynclineFunction(stack, 'A', { ...base, bundling: { forceDockerBundling: true } })).toThrow(/Docker/);
    expect(() => new SynclineFunction(stack, 'B', { ...base, bundling: { format: OutputFormat.CJS } })).toThrow(/ESM/);
  });
});

describe('SyncStore', () => {
  it('refuses existing tables together with table props', () => {
    const stack = new Stack(testApp(), 'Store');
    const t = Table.fromTableName(stack, 'T', 'existing');
    expect(() => new SyncStore(stack, 'S', { existingTables: { state: t, audit: t, quarantine: t, conflicts: t, dedup: t }, tableProps: { pointInTimeRecovery: false } })).toThrow(
      /either existingTables or tableProps/,
    );
  });

  it('uses existing tables without creating any, and still creates the hash key', () => {
    const stack = new Stack(testApp(), 'Store');
    const t = Table.fromTableName(stack, 'T', 'existing');
    new SyncStore(stack, 'S', { existingTables: { state: t, audit: t, quarantine: t, conflicts: t, dedup: t } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: { PasswordLength: 64 } });
  });

  it('deletes tables with the stack when asked to', () => {
    const stack = new Stack(testApp(), 'Store');
    new SyncStore(stack, 'S', { removalPolicy: RemovalPolicy.DESTROY });
    Template.fromStack(stack).hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });
});

describe('SyncFlow', () => {
  const setup = () => {
    const stack = new Stack(testApp(), 'Flow');
    return { stack, store: new SyncStore(stack, 'Store'), httpApi: new HttpApi(stack, 'Api') };
  };

  it('refuses flowPlan together with flow', () => {
    const { stack, store, httpApi } = setup();
    const flow = exampleConfig().flows[0];
    expect(() => new SyncFlow(stack, 'F', { flow, flowPlan: planFlow(flow), store, httpApi, projectRoot: root })).toThrow(/either flowPlan or flow/);
  });

  it('imports an existing target table instead of creating it, and grants on it', () => {
    const { stack, store, httpApi } = setup();
    const base = exampleConfig().flows[0];
    const flow = { ...base, targets: [{ id: 'replica', type: 'dynamodb' as const, keyAttribute: 'id', tableName: 'contacts-replica' }] };
    new SyncFlow(stack, 'F', { flow, store, httpApi, projectRoot: root });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::Table', 5);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['dynamodb:DeleteItem', 'dynamodb:PutItem'],
            Resource: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':table/contacts-replica'])] }),
          }),
        ]),
      },
    });
  });

  it('builds a flow with a non-DynamoDB target (every target type has a runtime now)', () => {
    const { stack, store, httpApi } = setup();
    const base = exampleConfig().flows[0];
    const flow = { ...base, targets: [{ id: 'lake', type: 's3' as const, prefix: 'orders/', format: 'jsonl' as const }] };
    const built = new SyncFlow(stack, 'F', { flow, store, httpApi, projectRoot: root });
    expect(Object.keys(built.createdTargetBuckets)).toEqual(['lake']);
  });

  it('creates one secret and one pair of per-source routes per webhook source', () => {
    const { stack, store, httpApi } = setup();
    const base = exampleConfig().flows[0];
    const flow = { ...base, sources: [...base.sources, { ...base.sources[0], id: 'erp' }] };
    const sf = new SyncFlow(stack, 'F', { flow, store, httpApi, projectRoot: root });
    const template = Template.fromStack(stack);
    expect(Object.keys(sf.webhookSecrets).sort()).toEqual(['crm', 'erp']);
    template.resourcePropertiesCountIs('AWS::SecretsManager::Secret', { GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true } }, 2);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks/crm-contacts/erp' });
    // With two webhook sources there is no short /webhooks/{flow} route.
    expect(sf.routes.map((r) => r.node.id)).toEqual(['capture-crm-route-0', 'capture-erp-route-0']);
  });

  it('lets the resolve function of a manual flow, and only that one, put ConflictOpened events on the default bus', () => {
    const { stack, store, httpApi } = setup();
    const base = exampleConfig().flows[0];
    const manual = { ...base, id: 'manual-flow', conflict: { ...base.conflict, strategy: 'manual' as const } };
    const built = new SyncFlow(stack, 'M', { flow: manual, store, httpApi, projectRoot: root });
    new SyncFlow(stack, 'L', { flow: { ...base, id: 'lww-flow', conflict: { ...base.conflict, strategy: 'lww' as const } }, store, httpApi, projectRoot: root });
    const template = Template.fromStack(stack);
    const putEvents = Match.objectLike({ Action: 'events:PutEvents', Resource: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':event-bus/default'])] }) });
    const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { PolicyDocument: { Statement: Match.arrayWith([putEvents]) } } }));
    expect(policies).toHaveLength(1);
    const role = (policies[0]!.Properties.Roles as { Ref: string }[])[0]!.Ref;
    const resolveFn = built.functions.resolve!;
    expect(stack.getLogicalId(resolveFn.role!.node.defaultChild as CfnElement)).toBe(role);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [role, 'Arn'] },
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: 'default' }) },
    });
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: 'default' }) } }, 1);
  });
});

import { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, flowLike, synthStack } from './helpers';

const BUS_ARN = 'arn:aws:events:us-east-1:123456789012:event-bus/ops-reviews';

let stack: SyncStack;
let template: Template;

const logicalId = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as CfnElement);

beforeAll(() => {
  // Prepare: a manual flow that auto-resolves after 5 minutes onto a named bus, a manual flow without auto-resolve
  // whose bus is given by ARN, and a field-lww flow.
  const manual = (id: string, conflict: Record<string, unknown>) => ({
    ...flowLike(id),
    sources: [
      { id: 'crm', type: 'webhook' },
      { id: 'erp', type: 'webhook' },
    ],
    conflict: { strategy: 'manual', ...conflict },
  });
  const config = parseConfig({
    ...exampleConfigInput(),
    flows: [
      manual('fast', { autoResolveAfter: '5 minutes', autoResolveWith: 'lww', eventBusName: 'reviews' }),
      manual('slow', { eventBusName: BUS_ARN }),
      flowLike('plain'),
    ],
  });
  ({ stack, template } = synthStack(config, 'Sweep'));
});

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

function statementsOf(flowId: string, fnId: string): Statement[] {
  const fn = stack.flows[flowId]!.functions[fnId]!;
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(fn.role!) }] } });
  return Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

function envOf(flowId: string, fnId: string): Record<string, unknown> {
  const fn = stack.flows[flowId]!.functions[fnId]!;
  return template.toJSON().Resources[logicalId(fn)].Properties.Environment.Variables as Record<string, unknown>;
}

describe('conflict sweep function', () => {
  it('exists for manual flows only, each run by a rate schedule: every minute below a 10-minute limit, else every 5', () => {
    // Assess
    expect(stack.flows.fast!.functions['conflict-sweep']).toBeDefined();
    expect(stack.flows.slow!.functions['conflict-sweep']).toBeDefined();
    expect(stack.flows.plain!.functions['conflict-sweep']).toBeUndefined();
    expect(stack.flows.plain!.conflictSweepSchedule).toBeUndefined();
    const sweeps = template.findResources('AWS::Scheduler::Schedule', { Properties: { Description: Match.stringLikeRegexp('conflict sweep') } });
    expect(Object.keys(sweeps)).toHaveLength(2);
    for (const [flowId, rate] of [
      ['fast', 'rate(1 minute)'],
      ['slow', 'rate(5 minutes)'],
    ] as const) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: rate,
        Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(stack.flows[flowId]!.functions['conflict-sweep']!), 'Arn'] }, RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) }),
      });
    }
  });

  it('is not retried by Lambda either: the next sweep does the same work', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack.flows.fast!.functions['conflict-sweep']!) },
      MaximumRetryAttempts: 0,
    });
  });

  it('gets the conflict and audit tables, reads of state, the resolve queue and the claim check, and nothing else of the store', () => {
    // Prepare
    const store = stack.store;
    const statements = statementsOf('fast', 'conflict-sweep');
    const onResource = (r: IConstruct, attr = 'Arn') => statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify({ 'Fn::GetAtt': [logicalId(r), attr] }));

    // Assess
    // Open conflicts are listed through their index only, never by a query of the table's partitions.
    expect(onResource(store.conflicts).flatMap(actionsOf).sort()).toEqual(['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']);
    const onOpenIndex = statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(store.conflicts), 'Arn'] }, '/index/openByFlow']] }));
    expect(onOpenIndex.flatMap(actionsOf)).toEqual(['dynamodb:Query']);
    expect(onResource(store.audit).flatMap(actionsOf)).toEqual(['dynamodb:BatchWriteItem']);
    expect(onResource(store.state).flatMap(actionsOf)).toEqual(['dynamodb:BatchGetItem']);
    expect(onResource(stack.flows.fast!.queues.resolve!).flatMap(actionsOf)).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    const text = JSON.stringify(statements);
    for (const other of [store.quarantine, store.dedup, store.hashKeySecret]) expect(text).not.toContain(logicalId(other));
    expect(text).not.toMatch(/secretsmanager:|events:PutEvents|dynamodb:PutItem|dynamodb:DeleteItem|dynamodb:Scan/);
    const wildcard = statements.filter((s) => s.Resource === '*').flatMap(actionsOf);
    expect(wildcard.every((a) => a.startsWith('xray:'))).toBe(true);
    expect(envOf('fast', 'conflict-sweep')).toMatchObject({
      CONFLICT_TABLE: { Ref: logicalId(store.conflicts) },
      AUDIT_TABLE: { Ref: logicalId(store.audit) },
      RESOLVE_QUEUE_URL: { Ref: logicalId(stack.flows.fast!.queues.resolve!) },
      PAYLOAD_BUCKET: { Ref: logicalId(store.payloadBucket) },
    });
  });

  it('passes cdk-nag AwsSolutions', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});

describe('ConflictOpened bus', () => {
  const putEventsOf = (flowId: string) => statementsOf(flowId, 'resolve').filter((s) => actionsOf(s).includes('events:PutEvents'));

  it('lets the resolve function put events on exactly the configured bus, by name or by ARN', () => {
    // Assess
    const byName = putEventsOf('fast');
    expect(byName).toHaveLength(1);
    expect(JSON.stringify(byName[0]!.Resource)).toMatch(/:event-bus\/reviews"\]\]\}$/);
    expect(envOf('fast', 'resolve')).toMatchObject({ EVENT_BUS_NAME: 'reviews' });
    expect(putEventsOf('slow')).toEqual([expect.objectContaining({ Resource: BUS_ARN })]);
    expect(envOf('slow', 'resolve')).toMatchObject({ EVENT_BUS_NAME: BUS_ARN });
    expect(putEventsOf('plain')).toEqual([]);
    expect(JSON.stringify(template.toJSON())).not.toContain(':event-bus/default');
  });
});

describe('dashboard', () => {
  type Widget = { type: string; width: number; properties: { title?: string; markdown?: string; metrics?: unknown[][] } };
  const widgets = (): Widget[] => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = dashboard!.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
    const text = body['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : '@token')).join('');
    return (JSON.parse(text) as { widgets: Widget[] }).widgets;
  };
  const rowOf = (flowId: string) => {
    const all = widgets();
    const start = all.findIndex((w) => w.type === 'text' && w.properties.markdown?.startsWith(`### ${flowId}`));
    const end = all.findIndex((w, i) => i > start && w.type === 'text');
    return all.slice(start + 1, end === -1 ? undefined : end);
  };

  it("shows the open conflict count (OpenConflicts, Maximum) in a manual flow's row, on one row of 24", () => {
    for (const flowId of ['fast', 'slow']) {
      // Assess
      const row = rowOf(flowId);
      const open = row.find((w) => w.properties.title === `${flowId}: open conflicts`);
      expect(open, `open conflicts widget of ${flowId}`).toBeDefined();
      expect(JSON.stringify(open!.properties.metrics)).toContain(`["Syncline","OpenConflicts","Flow","${flowId}","service","syncline-${flowId}",{"label":"open","stat":"Maximum"`);
      expect(row.reduce((n, w) => n + w.width, 0)).toBe(24);
    }
    expect(rowOf('plain').some((w) => w.properties.title?.includes('open conflicts'))).toBe(false);
  });
});

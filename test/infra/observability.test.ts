import { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { OUTCOME_METRICS, deadLettersOf, flowServiceName, logGroupParts } from '../../lib/constructs/observability';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfig, exampleConfigInput, flowLike, synthStack } from './helpers';

/** Synthesizing some sixty flows takes 20 to 35 s on a 2-core machine running two test files at once. */
const SYNTH_OF_MANY_FLOWS_MS = 120_000;

/** Logical id of an L2 construct's CloudFormation resource, in its own stack. */
const logicalId = (c: IConstruct) => Stack.of(c).getLogicalId(c.node.defaultChild as CfnElement);

interface Widget {
  readonly type: string;
  readonly properties: { title?: string; markdown?: string; metrics?: unknown[][]; annotations?: unknown; setPeriodToTimeRange?: boolean };
}

/**
 * The dashboard's widgets: the body is an Fn::Join of JSON text and tokens; tokens become `@Ref:<id>` or
 * `@GetAtt:<id>.<attr>` strings so the body parses as JSON and assertions can name logical ids.
 */
function dashboardWidgets(template: Template): Widget[] {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0].Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = body['Fn::Join'][1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const token = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      if (token.Ref) return `@Ref:${token.Ref}`;
      if (token['Fn::GetAtt']) return `@GetAtt:${token['Fn::GetAtt'].join('.')}`;
      throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
    })
    .join('');
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
}

/** The widgets of one flow's row: from its title text widget to the next text widget. */
function rowOf(widgets: Widget[], flowId: string): Widget[] {
  const start = widgets.findIndex((w) => w.type === 'text' && w.properties.markdown?.startsWith(`### ${flowId}`));
  expect(start, `no dashboard row for ${flowId}`).toBeGreaterThanOrEqual(0);
  const end = widgets.findIndex((w, i) => i > start && w.type === 'text');
  return widgets.slice(start + 1, end === -1 ? undefined : end);
}

const widgetTitled = (row: Widget[], part: string): Widget => {
  const w = row.find((x) => x.properties.title?.includes(part));
  expect(w, `no widget titled "...${part}..."`).toBeDefined();
  return w as Widget;
};

/** A metric line of a graph as [namespace, name, dim, value, dim, value, ..., options?]. */
const lines = (w: Widget): string[] => (w.properties.metrics ?? []).map((m) => JSON.stringify(m));

let example: SyncStack;
let exampleTemplate: Template;
let every: SyncStack;
let everyTemplate: Template;
let nested: SyncStack;
let nestedRoot: Template;

beforeAll(() => {
  // Prepare: the example stack with an alarm email; a flow with every source type and its own lag threshold; and
  // a stack whose second flow lives in a nested stack.
  ({ stack: example, template: exampleTemplate } = synthStack(exampleConfig({ alarmEmail: 'ops@example.com' }), 'ObsExample'));
  const everySource = {
    ...flowLike('every-source'),
    alarms: { lagP99Ms: 60_000, quarantinePercent: 20 },
    sources: [
      { id: 'crm', type: 'webhook' },
      { id: 'cdc', type: 'webhook', format: 'debezium' },
      { id: 'primary', type: 'dynamodb-stream', tableName: 'primary-table' },
      { id: 'api', type: 'schedule', every: '15 minutes', http: { url: 'https://api.example.com/contacts' } },
      { id: 'inbox', type: 'sqs' },
      { id: 'bus', type: 'eventbridge', pattern: { source: ['crm.app'] } },
    ],
  };
  ({ stack: every, template: everyTemplate } = synthStack(
    parseConfig({ ...exampleConfigInput(), alarms: { errorRatePercent: 2 }, flows: [everySource] }),
    'ObsEvery',
  ));
  ({ stack: nested, template: nestedRoot } = synthStack(
    parseConfig({ ...exampleConfigInput(), flowsPerStack: 1, flows: [flowLike('one'), flowLike('two')] }),
    'ObsNested',
  ));
});

describe('alarm topic', () => {
  it('denies publishing without TLS', () => {
    exampleTemplate.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: logicalId(example.observability.topic) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it("lets CloudWatch publish the stack's own alarms, since the topic policy replaces SNS's default one", () => {
    exampleTemplate.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: logicalId(example.observability.topic) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: logicalId(example.observability.topic) },
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':alarm:ObsExample-\\*$')])] } },
            },
          }),
        ]),
      },
    });
    // Every alarm of the stack, nested flows' included, is named under that prefix.
    for (const [template, prefix] of [
      [exampleTemplate, 'ObsExample-'],
      [everyTemplate, 'ObsEvery-'],
    ] as const) {
      const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => String(a.Properties.AlarmName));
      expect(names.length).toBeGreaterThan(0);
      expect(names.every((n) => n.startsWith(prefix))).toBe(true);
    }
  });

  it('subscribes alarmEmail by email, and nobody when it is not set', () => {
    exampleTemplate.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: logicalId(example.observability.topic) },
    });
    expect(everyTemplate.findResources('AWS::SNS::Subscription')).toEqual({});
  });

  it('keeps its display name within the 100 characters SNS takes, for a stack name of any allowed length', () => {
    // Act
    const { template } = synthStack(exampleConfig(), `S${'y'.repeat(127)}`);

    // Assess
    const names = Object.values(template.findResources('AWS::SNS::Topic')).map((t) => String(t.Properties.DisplayName));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^syncline alarms \(/);
    expect(names[0]!.length).toBeLessThanOrEqual(100);
  });
});

describe('dashboard', () => {
  it('has a row per flow with throughput by outcome on the flow\'s EMF dimensions', () => {
    const row = rowOf(dashboardWidgets(exampleTemplate), 'crm-contacts');
    const throughput = lines(widgetTitled(row, 'records by outcome'));
    for (const name of OUTCOME_METRICS) {
      expect(throughput).toContainEqual(
        expect.stringContaining(`["Syncline","${name}","Flow","crm-contacts","service","syncline-crm-contacts",{"label":"${name}","stat":"Sum"`),
      );
    }
  });

  it("shows a Debezium source's skipped events and truncates beside the outcomes, on flows that have one only", () => {
    const named = (template: Template, flowId: string) => lines(widgetTitled(rowOf(dashboardWidgets(template), flowId), 'records by outcome')).join('\n');
    for (const name of ['Skipped', 'Truncated']) {
      expect(named(everyTemplate, 'every-source')).toContain(`["Syncline","${name}","Flow","every-source"`);
      expect(named(exampleTemplate, 'crm-contacts')).not.toContain(`"${name}"`);
    }
  });

  it('uses the service dimension that Powertools publishes (POWERTOOLS_SERVICE_NAME of the flow\'s functions)', () => {
    const resources = exampleTemplate.toJSON().Resources as Record<string, { Properties: { Environment: { Variables: Record<string, unknown> } } }>;
    for (const fn of Object.values(example.flows['crm-contacts'].functions)) {
      expect(resources[logicalId(fn)].Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe(flowServiceName('crm-contacts'));
    }
  });

  it('shows lag p50 and p99 with the alarm threshold', () => {
    const lag = widgetTitled(rowOf(dashboardWidgets(exampleTemplate), 'crm-contacts'), 'lag');
    expect(lines(lag)).toEqual([
      expect.stringContaining('"LagMs","Flow","crm-contacts","service","syncline-crm-contacts",{"label":"p50","stat":"p50"'),
      expect.stringContaining('"LagMs","Flow","crm-contacts","service","syncline-crm-contacts",{"label":"p99","stat":"p99"'),
    ]);
    expect(JSON.stringify(lag.properties.annotations)).toContain('"value":300000');
  });

  it('shows depth and age of oldest message of every step queue, and the depth of every DLQ', () => {
    const flow = every.flows['every-source'];
    const row = rowOf(dashboardWidgets(everyTemplate), 'every-source');
    const queues = lines(widgetTitled(row, 'queue depth'));
    for (const q of Object.values(flow.queues)) {
      expect(queues).toContainEqual(expect.stringContaining(`"AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","@GetAtt:${logicalId(q)}.QueueName"`));
      expect(queues).toContainEqual(expect.stringContaining(`"AWS/SQS","ApproximateAgeOfOldestMessage","QueueName","@GetAtt:${logicalId(q)}.QueueName"`));
    }
    const dlqs = lines(widgetTitled(row, 'dead-letter'));
    const all = deadLettersOf(flow);
    // step DLQs, the stream's on-failure queue and the scheduler's DLQ
    expect(all.map((d) => d.kind)).toEqual(expect.arrayContaining(['step', 'stream', 'schedule']));
    for (const d of all) {
      expect(dlqs).toContainEqual(expect.stringContaining(`"ApproximateNumberOfMessagesVisible","QueueName","@GetAtt:${logicalId(d.queue)}.QueueName"`));
    }
  });

  it('shows errors and throttles of every function of the flow, and the conflicts opened', () => {
    const flow = every.flows['every-source'];
    const row = rowOf(dashboardWidgets(everyTemplate), 'every-source');
    const errors = lines(widgetTitled(row, 'errors and throttles'));
    for (const fn of Object.values(flow.functions)) {
      expect(errors).toContainEqual(expect.stringContaining(`"AWS/Lambda","Errors","FunctionName","@Ref:${logicalId(fn)}"`));
      expect(errors).toContainEqual(expect.stringContaining(`"AWS/Lambda","Throttles","FunctionName","@Ref:${logicalId(fn)}"`));
    }
    const conflicts = widgetTitled(row, 'conflicts');
    expect(conflicts.type).toBe('metric');
    expect(conflicts.properties.setPeriodToTimeRange).toBe(true);
    expect(lines(conflicts)).toEqual([expect.stringContaining('"Syncline","Conflicts","Flow","every-source"')]);
    // pull outcomes appear on the row of a flow with a schedule source
    expect(lines(widgetTitled(row, 'records by outcome'))).toContainEqual(expect.stringContaining('"DeleteInferenceRefused"'));
  });

  it('reaches flows of nested stacks through the nested stack\'s outputs', () => {
    const widgets = dashboardWidgets(nestedRoot);
    const queues = lines(widgetTitled(rowOf(widgets, 'two'), 'queue depth'));
    const nestedStackId = nested.getLogicalId(nested.nestedStacks[0].nestedStackResource as CfnElement);
    expect(queues.every((l) => l.includes(`@GetAtt:${nestedStackId}.Outputs.`))).toBe(true);
    // the root flow's row references its own queues directly
    expect(lines(widgetTitled(rowOf(widgets, 'one'), 'queue depth')).some((l) => l.includes('.Outputs.'))).toBe(false);
  });
});

describe('alarms', () => {
  it('alarm on every DLQ of the flow (step DLQs, stream on-failure, scheduler DLQ) when it holds a message', () => {
    const topic = logicalId(every.observability.topic);
    for (const d of deadLettersOf(every.flows['every-source'])) {
      everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(d.queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topic }],
        OKActions: [{ Ref: topic }],
        AlarmDescription:
          d.kind === 'step'
            ? Match.stringLikeRegexp(`every-source: messages wait in the dead-letter queue.*npx syncline redrive every-source --step ${d.of} --stack ObsEvery`)
            : Match.stringLikeRegexp('every-source'),
      });
    }
  });

  it("tell in the runbook of an eventbridge source's inbound DLQ that it also holds what the rule could not deliver", () => {
    const descriptionOf = (name: string) =>
      String(Object.values(everyTemplate.findResources('AWS::CloudWatch::Alarm')).find((a) => a.Properties.AlarmName === name)?.Properties.AlarmDescription);
    expect(descriptionOf('ObsEvery-every-source-dlq-inbound-bus')).toMatch(/also the dead-letter queue of the EventBridge rule that feeds inbound-bus: a message with ERROR_CODE/);
    expect(descriptionOf('ObsEvery-every-source-dlq-inbound-inbox')).not.toMatch(/EventBridge rule/);
  });

  it('alarm on the error rate of every function with metric math over Errors and Invocations', () => {
    for (const fn of Object.values(every.flows['every-source'].functions)) {
      const ref = { Ref: logicalId(fn) };
      everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 2,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'IF(invocations > 0, 100 * errors / invocations, 0)', ReturnData: true }),
          Match.objectLike({
            Id: 'errors',
            MetricStat: Match.objectLike({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: ref }] }, Stat: 'Sum' }),
            ReturnData: false,
          }),
          Match.objectLike({
            Id: 'invocations',
            MetricStat: Match.objectLike({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [{ Name: 'FunctionName', Value: ref }] }, Stat: 'Sum' }),
          }),
        ]),
      });
    }
  });

  it('alarm on batches that failed some messages for every queue- or stream-fed function, on the metric and dimensions the function publishes', () => {
    // Prepare
    const flow = every.flows['every-source'];
    const batchFed = flow.flowPlan.functions.filter((f) => f.trigger.type === 'sqs' || f.trigger.type === 'dynamodb-stream');
    expect(batchFed.map((f) => f.trigger.type)).toEqual(expect.arrayContaining(['sqs', 'dynamodb-stream']));

    for (const f of batchFed) {
      // Assess
      const fn = { Ref: logicalId(flow.functions[f.id]!) };
      everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `ObsEvery-every-source-failed-messages-${f.id}`,
        Threshold: 2,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmDescription: Match.stringLikeRegexp(`${f.id} function's batches failed some of their messages.*npx syncline redrive every-source --stack ObsEvery`),
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'IF(invocations > 0, 100 * failed / invocations, 0)', ReturnData: true }),
          Match.objectLike({
            Id: 'failed',
            MetricStat: Match.objectLike({
              Metric: {
                Namespace: 'Syncline',
                MetricName: 'PartialBatchFailures',
                Dimensions: Match.arrayWith([{ Name: 'Flow', Value: 'every-source' }, { Name: 'FunctionName', Value: fn }, { Name: 'service', Value: 'syncline-every-source' }]),
              },
              Stat: 'Sum',
            }),
          }),
          Match.objectLike({ Id: 'invocations', MetricStat: Match.objectLike({ Metric: { Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [{ Name: 'FunctionName', Value: fn }] } }) }),
        ]),
      });
    }
    // Webhook capture answers HTTP (its failures are Lambda errors), and schedules are not batches.
    const names = Object.values(everyTemplate.findResources('AWS::CloudWatch::Alarm')).map((a) => String(a.Properties.AlarmName));
    expect(names.filter((n) => n.includes('failed-messages-')).length).toBe(batchFed.length);
  });

  it('alarm on the age of the oldest message of every queue of the flow, which grows when a step stops and no lag is measured', () => {
    // Prepare
    const flow = every.flows['every-source'];
    const queues = Object.entries(flow.queues);
    expect(queues.map(([id]) => id)).toEqual(expect.arrayContaining(['transform', 'resolve']));

    for (const [qid, queue] of queues) {
      // Assess: seconds, the flow's lag threshold (60 s here) or, when longer, three visibility timeouts and a period, so that one
      // message retried a few times does not raise it.
      const visibility = flow.flowPlan.queues.find((q) => q.id === qid)!.visibilityTimeoutSeconds;
      expect(visibility).toBeGreaterThan(20);
      everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `ObsEvery-every-source-queue-age-${qid}`,
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: Math.max(60, 3 * visibility + 300),
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        AlarmActions: [{ Ref: logicalId(every.observability.topic) }],
      });
    }
  });

  it('alarm on the iterator age of a DynamoDB stream source, and on a failed pull of a flow with a schedule source', () => {
    // Assess
    const capture = every.flows['every-source'].functions['capture-primary']!;
    everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'ObsEvery-every-source-stream-age-primary',
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(capture) } }],
      Statistic: 'Maximum',
      Threshold: 60_000,
    });
    everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'ObsEvery-every-source-pull-failed',
      Namespace: 'Syncline',
      MetricName: 'PullFailed',
      Dimensions: Match.arrayWith([{ Name: 'Flow', Value: 'every-source' }]),
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('npx syncline pull every-source <source> --stack ObsEvery'),
    });
    const exampleNames = Object.values(exampleTemplate.findResources('AWS::CloudWatch::Alarm')).map((a) => String(a.Properties.AlarmName));
    expect(Object.values(example.flows).some((f) => f.flowPlan.functions.some((fn) => fn.handler === 'schedule-capture' || fn.trigger.type === 'dynamodb-stream'))).toBe(false);
    expect(exampleNames.filter((n) => /pull-failed|stream-age/.test(n))).toEqual([]);
  });

  it("alarm on the share of the HTTP API's requests answered 5xx, at the stack's error rate", () => {
    const api = { Ref: logicalId(example.httpApi) };
    exampleTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'ObsExample-api-5xx',
      Threshold: 5,
      AlarmActions: [{ Ref: logicalId(example.observability.topic) }],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(requests > 0, 100 * errors / requests, 0)', ReturnData: true }),
        Match.objectLike({ Id: 'errors', MetricStat: Match.objectLike({ Metric: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: api }] }, Stat: 'Sum' }) }),
        Match.objectLike({ Id: 'requests', MetricStat: Match.objectLike({ Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: [{ Name: 'ApiId', Value: api }] }, Stat: 'Sum' }) }),
      ]),
    });
  });

  it("alarm on the share of a flow's records quarantined, on the counts its functions publish, at the stack's or the flow's threshold", () => {
    const outcome = (id: string, name: string, flowId: string) =>
      Match.objectLike({
        Id: id,
        MetricStat: Match.objectLike({ Metric: { Namespace: 'Syncline', MetricName: name, Dimensions: Match.arrayWith([{ Name: 'Flow', Value: flowId }, { Name: 'service', Value: `syncline-${flowId}` }]) }, Stat: 'Sum' }),
        ReturnData: false,
      });
    for (const [template, stackName, flowId, threshold] of [[exampleTemplate, 'ObsExample', 'crm-contacts', 5], [everyTemplate, 'ObsEvery', 'every-source', 20]] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `${stackName}-${flowId}-quarantined`,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'IF(FILL(captured, 0) > 0, 100 * FILL(quarantined, 0) / FILL(captured, 0), IF(FILL(quarantined, 0) > 0, 100, 0))', ReturnData: true }),
          outcome('captured', 'Captured', flowId),
          outcome('quarantined', 'Quarantined', flowId),
        ]),
      });
    }
  });

  it('alarm on lag p99 over the configured threshold, the stack default or the flow\'s own', () => {
    const lagAlarm = (flowId: string, threshold: number) => ({
      Namespace: 'Syncline',
      MetricName: 'LagMs',
      ExtendedStatistic: 'p99',
      Statistic: Match.absent(),
      Dimensions: Match.arrayWith([{ Name: 'Flow', Value: flowId }, { Name: 'service', Value: `syncline-${flowId}` }]),
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    exampleTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', lagAlarm('crm-contacts', 300_000));
    everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', lagAlarm('every-source', 60_000));
  });

  it('alarm on a refused delete inference only where a full pull can infer deletes', () => {
    const refused = { MetricName: 'DeleteInferenceRefused', Namespace: 'Syncline', Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' };
    everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...refused,
      Dimensions: Match.arrayWith([{ Name: 'Flow', Value: 'every-source' }]),
      AlarmDescription: Match.stringLikeRegexp('npx syncline pull every-source <source> --accept-deletes --stack ObsEvery'),
    });
    expect(exampleTemplate.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'DeleteInferenceRefused' } })).toEqual({});
  });

  it('include a Truncated alarm for a flow with a Debezium source, and none for others', () => {
    everyTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Truncated',
      Namespace: 'Syncline',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: Match.arrayWith([{ Name: 'Flow', Value: 'every-source' }]),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('ObservabilityAlarmTopic') }],
      AlarmDescription: Match.stringLikeRegexp('truncated'),
    });
    expect(exampleTemplate.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'Truncated' } })).toEqual({});
  });

  it('each carry a runbook within CloudWatch\'s 1024-character description limit, also with the longest stack name and ids', () => {
    const long = (prefix: string) => `${prefix}${'x'.repeat(40 - prefix.length)}`;
    const longest = synthStack(
      parseConfig({
        ...exampleConfigInput(),
        flows: [{ ...flowLike(long('flow-')), sources: [{ id: long('src-'), type: 'webhook' }, { id: long('pull-'), type: 'schedule', every: '1 hour', http: { url: 'https://api.example.com/x' } }] }],
      }),
      `S${'y'.repeat(127)}`,
    ).template;
    const cut = Object.values(longest.findResources('AWS::CloudWatch::Alarm')).filter((a) => (a.Properties.AlarmDescription as string).endsWith('…'));
    expect(cut.length).toBeGreaterThan(0);
    for (const template of [exampleTemplate, everyTemplate, longest]) {
      for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
        const description = alarm.Properties.AlarmDescription as string;
        expect(description).toMatch(/Look first at/);
        expect(description.length).toBeLessThanOrEqual(1024);
      }
    }
  });

  it('of a nested flow live in its nested stack and notify the root topic', () => {
    const inner = Template.fromStack(nested.nestedStacks[0]);
    const dlq = nested.flows.two.deadLetterQueues.transform;
    inner.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(dlq), 'QueueName'] } }],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('ObservabilityAlarmTopic') }],
    });
    expect(nestedRoot.findResources('AWS::CloudWatch::Alarm', { Properties: { Dimensions: Match.arrayWith([{ Name: 'Flow', Value: 'two' }]) } })).toEqual({});
  });
});

describe('saved Logs Insights queries', () => {
  it("cover every log group of a flow, its admin function's included, with the four queries in the flow's folder", () => {
    const flow = every.flows['every-source'];
    const logGroups = [...Object.values(flow.functions), flow.adminFunction].map((fn) => ({ Ref: logicalId(fn.logGroup) }));
    const queries: [string, RegExp][] = [
      ['history of key', /filter key = "KEY"[\s\S]*sort @timestamp asc/],
      ['quarantine reasons', /outcome = "quarantined"[\s\S]*stats count\(\*\) as records by flow, reason/],
      ['errors by flow and step', /level = "ERROR"[\s\S]*by flow, stepName/],
      ['slowest deliveries', /sort lagMs desc/],
    ];
    for (const [name, query] of queries) {
      everyTemplate.hasResourceProperties('AWS::Logs::QueryDefinition', {
        Name: Match.stringLikeRegexp(`^syncline/ObsEvery/every-source/${name}`),
        QueryString: Match.stringLikeRegexp(query.source),
        LogGroupNames: Match.arrayEquals(logGroups),
      });
    }
  });

  it("give the stack's flow list function an errors query of its own", () => {
    everyTemplate.hasResourceProperties('AWS::Logs::QueryDefinition', {
      Name: 'syncline/ObsEvery/errors by flow and step',
      LogGroupNames: [{ Ref: logicalId(every.flowListFunction.logGroup) }],
    });
  });

  it('never put more than 50 log groups in one query', () => {
    for (const def of Object.values(everyTemplate.findResources('AWS::Logs::QueryDefinition'))) expect(def.Properties.LogGroupNames.length).toBeLessThanOrEqual(50);
    expect(logGroupParts(Array.from({ length: 120 }, (_, i) => i)).map((p) => p.length)).toEqual([50, 50, 20]);
  });

  it("put each flow's queries in the flow's own stack, over its own log groups, so the root template does not grow with them", () => {
    const defsIn = (template: Template, flowId: string) =>
      Object.values(template.findResources('AWS::Logs::QueryDefinition')).filter((d) => d.Properties.Name.startsWith(`syncline/ObsNested/${flowId}/`));
    const inner = Template.fromStack(nested.nestedStacks[0]!);
    expect(defsIn(nestedRoot, 'one')).toHaveLength(4);
    expect(defsIn(nestedRoot, 'two')).toHaveLength(0);
    expect(defsIn(inner, 'two')).toHaveLength(4);
    const two = nested.flows.two!;
    const groups = [...Object.values(two.functions), two.adminFunction].map((fn) => ({ Ref: logicalId(fn.logGroup) }));
    for (const def of defsIn(inner, 'two')) expect(def.Properties.LogGroupNames).toEqual(groups);
  });
});

describe('dashboards of many flows', () => {
  it('start a further dashboard, <stack>-<region>-2, before one would pass the 500 widgets CloudWatch takes', () => {
    const { stack, template } = synthStack(parseConfig({ ...exampleConfigInput(), flows: Array.from({ length: 80 }, (_, i) => flowLike(`f${i}`)) }), 'ObsMany');
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    // Names are global to the account, so the region is part of them.
    expect(dashboards.map((d) => JSON.stringify(d.Properties.DashboardName))).toEqual([
      JSON.stringify({ 'Fn::Join': ['', ['ObsMany-', { Ref: 'AWS::Region' }]] }),
      JSON.stringify({ 'Fn::Join': ['', ['ObsMany-', { Ref: 'AWS::Region' }, '-2']] }),
    ]);
    const titles = stack.observability.dashboards.map((d) => {
      const body = JSON.stringify(Stack.of(d).resolve((d.node.defaultChild as unknown as { dashboardBody: unknown }).dashboardBody));
      return [...body.matchAll(/### (f\d+)/g)].map((m) => m[1]);
    });
    // Every flow has its row on exactly one dashboard, in config order.
    expect(titles.flat()).toEqual(Array.from({ length: 80 }, (_, i) => `f${i}`));
    const counts = stack.observability.dashboards.map((d) => (JSON.stringify(Stack.of(d).resolve((d.node.defaultChild as unknown as { dashboardBody: unknown }).dashboardBody)).match(/\\"type\\":/g) ?? []).length);
    // The first is filled to within one row of the limit before the second starts.
    expect(counts[0]).toBeGreaterThan(480);
    for (const n of counts) expect(n).toBeLessThanOrEqual(500);
  }, SYNTH_OF_MANY_FLOWS_MS);
});

describe('alarm thresholds config', () => {
  it('defaults to 5 minutes of p99 lag, a 5% error rate and 5% quarantined', () => {
    expect(exampleConfig().alarms).toEqual({ lagP99Ms: 300_000, errorRatePercent: 5, quarantinePercent: 5 });
  });

  it('refuses an error rate over 100% with its path', () => {
    expect(() => parseConfig({ ...exampleConfigInput(), alarms: { errorRatePercent: 150 } })).toThrow(/alarms/);
  });
});

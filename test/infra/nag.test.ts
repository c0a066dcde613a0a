import type { PolicyViolation } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { NAG_ACKNOWLEDGEMENTS } from '../../lib/stacks/nag';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfig, exampleConfigInput, flowLike, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

const describeViolations = (vs: readonly PolicyViolation[]) =>
  vs.map((v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);

let single: SyncStack;
let nested: SyncStack;

beforeAll(() => {
  // Prepare: the example stack, and one whose flows spill into nested stacks (each with two webhook sources).
  single = synthStack(exampleConfig(), 'NagSingle').stack;
  const twoSources = (id: string) => {
    const flow = flowLike(id) as { sources: Record<string, unknown>[] };
    return { ...flow, sources: [...flow.sources, { id: 'erp', type: 'webhook' }] };
  };
  nested = synthStack(parseConfig({ ...exampleConfigInput(), flowsPerStack: 1, flows: [twoSources('one'), twoSources('two')] }), 'NagNested').stack;
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning on the example stack', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(single);
    expect(describeViolations(report.violations)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('reports none with nested stacks and several webhook sources either', () => {
    const report = new AwsSolutionsChecks().validateScope(nested);
    expect(describeViolations(report.violations)).toEqual([]);
  });

  it('reports none for a flow with every source type', () => {
    const everySource = {
      ...flowLike('every-source'),
      sources: [
        { id: 'crm', type: 'webhook' },
        { id: 'primary', type: 'dynamodb-stream', tableName: 'primary-table' },
        { id: 'api', type: 'schedule', every: '15 minutes', http: { url: 'https://api.example.com/contacts', auth: { type: 'bearer', secretName: 'crm-api-token' } } },
        { id: 'lake', type: 'schedule', cron: '0 3 * * ? *', s3: { bucket: 'exports-bucket', prefix: 'contacts/', format: 'csv' } },
        { id: 'inbox', type: 'sqs' },
        { id: 'bus', type: 'eventbridge', pattern: { source: ['crm.app'] } },
      ],
    };
    const { stack } = synthStack(parseConfig({ ...exampleConfigInput(), flows: [everySource] }), 'NagEverySource');
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(describeViolations(report.violations)).toEqual([]);
  });

  it('reports none for a flow with every target type', () => {
    const everyTarget = { ...flowLike('every-target'), targets: everyTargetFlow().targets };
    const { stack } = synthStack(parseConfig({ ...exampleConfigInput(), flows: [everyTarget] }), 'NagEveryTarget');
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(describeViolations(report.violations)).toEqual([]);
  });

  it('would fail without the acknowledgements, so each one is needed', () => {
    // A dynamodb-stream source by table name brings the stream on-failure queue and the stream ARN lookup.
    const streams = { ...flowLike('streams'), sources: [{ id: 'primary', type: 'dynamodb-stream', tableName: 'primary-table' }] };
    const withStreams = parseConfig({ ...exampleConfigInput(), flows: [...(exampleConfigInput().flows as unknown[]), streams] });
    const { stack: bare } = synthStack(withStreams, 'NagBare', false);
    const found = new Set(new AwsSolutionsChecks().validateScope(bare).violations.map((v) => v.ruleName));
    for (const ack of NAG_ACKNOWLEDGEMENTS) expect(found).toContain(ack.id);
  });

  it('leaves no CDK warning or error annotation on the stack', () => {
    for (const stack of [single, nested]) {
      expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    }
  });

  it('gives every acknowledgement a written reason', () => {
    for (const ack of NAG_ACKNOWLEDGEMENTS) expect(ack.reason.length).toBeGreaterThan(60);
  });
});

import { NestedStack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, flowLike, synthStack } from './helpers';

/** Synthesizing some sixty flows takes 20 to 35 s on a 2-core machine running two test files at once. */
const SYNTH_OF_MANY_FLOWS_MS = 120_000;

let stack: SyncStack;
let root: Template;

beforeAll(() => {
  // Prepare: five flows, two per stack: two stay in the root stack, the other three go to two nested stacks.
  const config = parseConfig({ ...exampleConfigInput(), flowsPerStack: 2, flows: ['a', 'b', 'c', 'd', 'e'].map((x) => flowLike(`flow-${x}`)) });
  ({ stack, template: root } = synthStack(config, 'Many'));
});

describe('flows beyond flowsPerStack', () => {
  it('go into nested stacks of flowsPerStack flows each, in config order', () => {
    expect(stack.nestedStacks).toHaveLength(2);
    root.resourceCountIs('AWS::CloudFormation::Stack', 2);
    const stackOf = (flow: string) => NestedStack.of(stack.flows[flow]);
    expect(stackOf('flow-a')).toBe(stack);
    expect(stackOf('flow-b')).toBe(stack);
    expect(stackOf('flow-c')).toBe(stack.nestedStacks[0]);
    expect(stackOf('flow-d')).toBe(stack.nestedStacks[0]);
    expect(stackOf('flow-e')).toBe(stack.nestedStacks[1]);
  });

  it('stay in their stacks when pinned by flowStacks after a flow before them is removed', () => {
    // Prepare: flow-a retired; without pins, flow-c would move into the root stack and flow-e into Flows1.
    const config = parseConfig({ ...exampleConfigInput(), flowsPerStack: 2, flowStacks: { 'flow-c': 1, 'flow-d': 1, 'flow-e': 2 }, flows: ['b', 'c', 'd', 'e'].map((x) => flowLike(`flow-${x}`)) });

    // Act
    const { stack: after } = synthStack(config, 'Pinned');

    // Assess: the same stacks as before the removal, under the same construct ids (so the same logical ids).
    const stackOf = (flow: string) => NestedStack.of(after.flows[flow]);
    expect(stackOf('flow-b')).toBe(after);
    expect(after.nestedStacks.map((n) => n.node.id)).toEqual(['Flows1', 'Flows2']);
    expect(stackOf('flow-c')).toBe(after.nestedStacks[0]);
    expect(stackOf('flow-d')).toBe(after.nestedStacks[0]);
    expect(stackOf('flow-e')).toBe(after.nestedStacks[1]);
    expect(stackOf('flow-c')!.node.path).toBe(stack.nestedStacks[0]!.node.path.replace('Many', 'Pinned'));
    expect(after.nestedStacks[0]!.templateOptions.description).toBe('syncline flows flow-c, flow-d');
  }, SYNTH_OF_MANY_FLOWS_MS);

  it('place a flow whose id is a name objects inherit (constructor) by its position while other flows are pinned', () => {
    const config = parseConfig({ ...exampleConfigInput(), flowsPerStack: 2, flowStacks: { 'flow-a': 0 }, flows: [flowLike('flow-a'), flowLike('flow-b'), flowLike('constructor')] });
    const { stack: placed } = synthStack(config, 'Inherited');
    expect(NestedStack.of(placed.flows['constructor'])).toBe(placed.nestedStacks[0]);
  }, SYNTH_OF_MANY_FLOWS_MS);

  it('refuse a pin of a flow the config does not have, naming flowStacks', () => {
    expect(() => parseConfig({ ...exampleConfigInput(), flowStacks: { 'flow-z': 1 }, flows: [flowLike('flow-a')] })).toThrow(/flowStacks.*no flow "flow-z" to pin/s);
  });

  it('keep the store and the HTTP API in the root stack', () => {
    root.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    root.hasResourceProperties('AWS::DynamoDB::Table', { TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } });
    for (const nested of stack.nestedStacks) Template.fromStack(nested).resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  });

  it('wire nested flows to the root API and the shared tables', () => {
    const nested = Template.fromStack(stack.nestedStacks[0]);
    nested.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks/flow-c/crm', ApiId: { Ref: Match.anyValue() } });
    nested.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Environment: { Variables: Match.objectLike({ STATE_TABLE: { Ref: Match.stringLikeRegexp('StoreStateTable') } }) },
    });
    nested.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() } });
    nested.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'] });
  });
});

describe('the CloudFormation resource limit', () => {
  it('fails synth with a clear message when flowsPerStack packs more than 500 resources into one stack', () => {
    // 10 flows with three created replica tables each exceed 500 in the root stack.
    const heavy = (id: string) => ({
      ...flowLike(id),
      targets: ['a', 'b', 'c'].map((t) => ({ id: `replica-${t}`, type: 'dynamodb', keyAttribute: 'id' })),
    });
    const config = parseConfig({ ...exampleConfigInput(), flowsPerStack: 10, flows: Array.from({ length: 10 }, (_, i) => heavy(`flow-${i}`)) });
    expect(() => synthStack(config, 'TooBig')).toThrow(/over CloudFormation's limit of 500: before the first deploy, lower flowsPerStack \(now 10\); once deployed, pin flows/);
  });
});

describe('the HTTP API limits', () => {
  it('fail synth with a clear message past the 300 integrations of one HTTP API', () => {
    // Prepare: 30 flows of 10 webhook sources each: 331 integrations (a source each, a flow each, GET /flows).
    const wide = (id: string) => ({ ...flowLike(id), sources: Array.from({ length: 10 }, (_, i) => ({ id: `hook-${i}`, type: 'webhook' })) });
    const config = parseConfig({ ...exampleConfigInput(), flowsPerStack: 2, flows: Array.from({ length: 30 }, (_, i) => wide(`flow-${i}`)) });

    // Act + Assess
    expect(() => synthStack(config, 'WideApi')).toThrow(/the HTTP API has 331 integrations \(one per webhook source, one per flow and one for GET \/flows\), over the 300 API Gateway takes/);
  }, SYNTH_OF_MANY_FLOWS_MS);
});

describe('the HTTP API routes', () => {
  it('warn at synth past the 300 routes API Gateway takes unless its quota was raised', () => {
    // Prepare: 61 flows of one webhook source: 5 routes each (3 admin, the source and its short form), 123 integrations.
    const config = parseConfig({ ...exampleConfigInput(), flows: Array.from({ length: 61 }, (_, i) => flowLike(`flow-${i}`)) });

    // Act
    const { stack: many } = synthStack(config, 'ManyRoutes');

    // Assess
    expect(Annotations.fromStack(many).findWarning('*', Match.stringLikeRegexp('the HTTP API has 306 routes; API Gateway takes 300'))).toHaveLength(1);
  }, SYNTH_OF_MANY_FLOWS_MS);
});

describe('the default flowsPerStack', () => {
  it('fits flows with two webhook sources, manual review and a created table under the limit', () => {
    // Prepare: eleven such flows (each about 71 resources) at the default split.
    const reviewed = (id: string) => ({
      ...flowLike(id),
      sources: [{ id: 'crm', type: 'webhook' }, { id: 'erp', type: 'webhook' }],
      conflict: { strategy: 'manual', autoResolveAfter: '1 hour', autoResolveWith: 'lww' },
    });
    const config = parseConfig({ ...exampleConfigInput(), flows: Array.from({ length: 11 }, (_, i) => reviewed(`flow-${i}`)) });
    // Act
    const { stack: big } = synthStack(config, 'DefaultSplit');
    // Assess: it synthesizes, five flows per template, each template under 500 resources.
    expect(big.nestedStacks).toHaveLength(2);
    for (const s of [big, ...big.nestedStacks]) expect(Object.keys(Template.fromStack(s).toJSON().Resources).length).toBeLessThan(500);
  });
});

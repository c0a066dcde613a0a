import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { LAMBDA_ENVIRONMENT_LIMIT, resolvedEnvironmentBound } from '../../lib/constructs/environment-budget';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

/** A 40-character flow id, the longest the schema allows. */
const id40 = (prefix: string) => `${prefix}${'x'.repeat(40 - prefix.length)}`;

/** A flow with long ids, two webhook sources and `targets` targets of every kind (each DynamoDB one created). */
function bigFlow(id: string, targets: number) {
  const kinds = everyTargetFlow().targets;
  return {
    id,
    key: ['id'],
    sources: [{ id: id40('crm'), type: 'webhook' }, { id: id40('erp'), type: 'webhook' }],
    targets: Array.from({ length: targets }, (_, i) => {
      const t = kinds[i % kinds.length]!;
      return { ...t, id: id40(`t${i}-`), ...(t.type === 'dynamodb' ? { tableName: undefined } : {}) };
    }),
  };
}

let stack: SyncStack;

beforeAll(() => {
  // Prepare: a long stack name, a small flow and a flow with 12 targets, and more flows than fit one stack (nested).
  const flows = [bigFlow(id40('small'), 1), bigFlow(id40('big'), 12), ...Array.from({ length: 4 }, (_, i) => bigFlow(id40(`n${i}-`), 2))];
  const config = parseConfig({ ...exampleConfigInput(), stackName: `S${'y'.repeat(127)}`, flowsPerStack: 2, flows });
  ({ stack } = synthStack(config, 'Budget'));
});

/** Every Lambda function of the stack and its nested stacks, with the bound of its environment. */
function functionsWithBounds(): { stack: Stack; logicalId: string; bound: number; variables: Record<string, unknown> }[] {
  const stacks = [stack, ...stack.node.findAll().filter((c): c is Stack => Stack.isStack(c) && c !== stack)];
  return stacks.flatMap((s) => {
    const template = Template.fromStack(s);
    const types = new Map(Object.entries(template.toJSON().Resources as Record<string, { Type: string }>).map(([k, r]) => [k, r.Type]));
    return Object.entries(template.findResources('AWS::Lambda::Function')).map(([logicalId, r]) => {
      const variables = (r.Properties.Environment?.Variables ?? {}) as Record<string, unknown>;
      return { stack: s, logicalId, variables, bound: resolvedEnvironmentBound(variables, types) };
    });
  });
}

describe("every function's environment, for the longest names CloudFormation can generate", () => {
  it('stays within 4 KB in the root stack and in nested stacks', () => {
    const all = functionsWithBounds();
    expect(all.length).toBeGreaterThan(40);
    for (const f of all) expect(f.bound, `${f.stack.stackName}/${f.logicalId}`).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT);
  });

  it('moves the resource names of a flow too big for it into one SSM parameter the admin function alone may read', () => {
    const big = stack.flows[id40('big')]!;
    const s = Stack.of(big);
    const template = Template.fromStack(s);
    const adminId = s.getLogicalId(big.adminFunction.node.defaultChild as never);
    const variables = template.toJSON().Resources[adminId].Properties.Environment.Variables as Record<string, unknown>;
    expect(variables.FLOW_RESOURCES).toBeUndefined();
    const parameterRef = variables.SYNCLINE_ENVIRONMENT_PARAMETER as { Ref: string };
    const parameter = template.toJSON().Resources[parameterRef.Ref];
    expect(parameter.Type).toBe('AWS::SSM::Parameter');
    expect(JSON.stringify(parameter.Properties.Value)).toMatch(/FLOW_RESOURCES.*queues/);
    // Readable with GetParameter by the admin function, and by no other function of the flow.
    const readers = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('ssm:GetParameter'));
    expect(readers).toHaveLength(1);
    expect(JSON.stringify(readers[0]![1].Properties.Roles)).toContain(s.getLogicalId(big.adminFunction.role!.node.defaultChild as never));
  });

  it('gives a parameter of each tier its own logical id, so shrinking a flow replaces an advanced parameter (SSM cannot make one standard)', () => {
    // Prepare: the same stack with the big flow's targets cut from 12 to 6, so its names fit a standard parameter.
    const flows = [bigFlow(id40('small'), 1), bigFlow(id40('big'), 6)];
    const { stack: shrunk } = synthStack(parseConfig({ ...exampleConfigInput(), stackName: `S${'y'.repeat(127)}`, flowsPerStack: 2, flows }), 'Budget');
    const parameters = (s: Stack) => Object.entries(Template.fromStack(s).findResources('AWS::SSM::Parameter')).map(([id, p]) => ({ id, tier: p.Properties.Tier as string }));

    // Assess
    const [before] = parameters(stack);
    const [after] = parameters(shrunk);
    expect([before!.tier, after!.tier]).toEqual(['Advanced', 'Standard']);
    expect(after!.id).not.toBe(before!.id);
  });

  it('keeps the names in the environment when they fit (no parameter for a small flow)', () => {
    const small = stack.flows[id40('small')]!;
    const s = Stack.of(small);
    const variables = Template.fromStack(s).toJSON().Resources[s.getLogicalId(small.adminFunction.node.defaultChild as never)].Properties.Environment.Variables;
    expect(variables.FLOW_RESOURCES).toBeDefined();
    expect(variables.SYNCLINE_ENVIRONMENT_PARAMETER).toBeUndefined();
  });
});

import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { exampleConfigInput, flowLike, synthStack } from './helpers';

/** IAM's limit on a managed policy document (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). */
const MANAGED_POLICY_CHARS = 6144;

/** A policy document as IAM stores it: each reference to a queue resolved to an ARN as long as CloudFormation names it. */
function resolvedLength(document: unknown): number {
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    // A queue CloudFormation names in a nested stack: up to 80 characters.
    if ('Fn::GetAtt' in o || 'Ref' in o || 'Fn::Join' in o || 'Fn::Sub' in o) return `arn:aws:sqs:eu-west-1:111122223333:${'q'.repeat(80)}`;
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
  };
  return JSON.stringify(resolve(document)).length;
}

describe('IAM policy size of a flow with many targets', () => {
  it("keeps each of the admin role's managed policies within IAM's limit (24 sqs targets: one status statement over every queue passed it)", () => {
    // Prepare: a second flow, in a nested stack, with 24 sqs targets: 26 queues and 26 DLQs the admin function reads the depth of.
    const targets = Array.from({ length: 24 }, (_, i) => ({ id: `out${String(i).padStart(2, '0')}`, type: 'sqs', queueArn: `arn:aws:sqs:eu-west-1:111122223333:q${i}` }));
    const config = parseConfig({ ...exampleConfigInput(), flowsPerStack: 1, flows: [flowLike('small'), { ...flowLike('big'), targets }] });

    // Act
    const { stack } = synthStack(config, 'ManyTargets');
    const nested = Template.fromStack(stack.nestedStacks[0]!);

    // Assess
    const managed = Object.entries(nested.findResources('AWS::IAM::ManagedPolicy')).map(([id, r]) => [id, resolvedLength((r as { Properties: { PolicyDocument: unknown } }).Properties.PolicyDocument)] as const);
    expect(managed.some(([id]) => id.includes('admin'))).toBe(true);
    for (const [id, length] of managed) expect(length, id).toBeLessThanOrEqual(MANAGED_POLICY_CHARS);
  });
});

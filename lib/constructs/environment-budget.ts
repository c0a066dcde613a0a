import { CfnResource, Stack, type IResolvable } from 'aws-cdk-lib';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { SynthProblem } from '../stacks/synth-problem';
import type { SynclineFunction } from './function-defaults';

/** Lambda's limit on a function's environment: the names and values of all its variables. */
export const LAMBDA_ENVIRONMENT_LIMIT = 4096;
/** The variable naming the SSM parameter that holds the variables moved out of the environment (read by functions/adapters/ssm-environment.ts). */
const ENVIRONMENT_PARAMETER_VARIABLE = 'SYNCLINE_ENVIRONMENT_PARAMETER';
/** An advanced SSM parameter holds up to 8 KB. */
const ADVANCED_PARAMETER_LIMIT = 8192;

/**
 * The longest value a reference can take, by resource type and attribute: names at the longest CloudFormation
 * generates for the type (queue 80, function 64, table 255, bucket 63), URLs and ARNs built around them, and pseudo
 * parameters at their longest. Another reference (a nested stack's parameter carrying a name or ARN of the parent
 * stack) counts as the longest of these, 320; an unknown attribute as 512.
 */
const LONGEST: Record<string, number> = {
  'AWS::SQS::Queue.Ref': 135, // https://sqs.<region>.amazonaws.com.cn/<account>/<name>
  'AWS::SQS::Queue.QueueName': 80,
  'AWS::SQS::Queue.Arn': 125,
  'AWS::SQS::Queue.QueueUrl': 135,
  'AWS::Lambda::Function.Ref': 64,
  'AWS::Lambda::Function.Arn': 140,
  'AWS::DynamoDB::Table.Ref': 255,
  'AWS::DynamoDB::Table.Arn': 310,
  'AWS::S3::Bucket.Ref': 63,
  'AWS::SecretsManager::Secret.Ref': 320, // an ARN with a generated name of up to 256 characters
  'AWS::ApiGatewayV2::Api.ApiEndpoint': 70,
  'AWS::Region': 14,
  'AWS::AccountId': 12,
  'AWS::URLSuffix': 16,
  'AWS::Partition': 10,
};
const UNKNOWN_REF = 320;
const UNKNOWN = 512;

/** The longest a resolved CloudFormation value can become once deployed. */
function longest(value: unknown, types: ReadonlyMap<string, string>): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return String(value).length;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + longest(v, types), 0);
  const o = (value ?? {}) as Record<string, unknown>;
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return longest(parts, types) + Buffer.byteLength(sep) * Math.max(0, parts.length - 1);
  }
  if ('Ref' in o && typeof o.Ref === 'string') return LONGEST[o.Ref] ?? LONGEST[`${types.get(o.Ref)}.Ref`] ?? UNKNOWN_REF;
  if ('Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    return LONGEST[`${types.get(id)}.${attr}`] ?? UNKNOWN;
  }
  return UNKNOWN;
}

/** Logical id to resource type of every CloudFormation resource of the stack. */
function resourceTypes(stack: Stack): Map<string, string> {
  const types = new Map<string, string>();
  for (const c of stack.node.findAll()) {
    if (CfnResource.isCfnResource(c) && Stack.of(c) === stack) types.set(stack.getLogicalId(c), c.cfnResourceType);
  }
  return types;
}

/** The most bytes an environment can take once deployed, with the longest names CloudFormation can generate. */
export function environmentBound(scope: Construct, environment: Readonly<Record<string, string>>): number {
  const stack = Stack.of(scope);
  const types = resourceTypes(stack);
  return Object.entries(environment).reduce((n, [k, v]) => n + Buffer.byteLength(k) + longest(stack.resolve(v), types), 0);
}

/**
 * Keeps a function's environment within Lambda's 4 KB for any names CloudFormation generates: when the bound of
 * `environment` passes it, the `movable` variables (largest first) go into one SSM parameter that the function
 * reads at cold start (functions/entry/env.ts), and the function may read that parameter only. A synth-time
 * validation checks the final environment either way.
 */
export function fitEnvironment(fn: SynclineFunction, environment: Record<string, string>, movable: readonly string[], what: string): Record<string, string> {
  const env = { ...environment };
  const moved: Record<string, string> = {};
  const bound = (e: Record<string, string>) => environmentBound(fn, e) + (Object.keys(moved).length ? Buffer.byteLength(ENVIRONMENT_PARAMETER_VARIABLE) + 2048 : 0);
  const bySize = [...movable].filter((k) => k in env).sort((a, b) => environmentBound(fn, { [b]: env[b]! }) - environmentBound(fn, { [a]: env[a]! }));
  for (const k of bySize) {
    if (bound(env) <= LAMBDA_ENVIRONMENT_LIMIT) break;
    moved[k] = env[k]!;
    delete env[k];
  }
  if (Object.keys(moved).length > 0) {
    const value = Stack.of(fn).toJsonString(moved);
    const size = environmentBound(fn, { '': value });
    if (size > ADVANCED_PARAMETER_LIMIT) throw new SynthProblem(`${what}: its resource names may take ${size} bytes, over what one SSM parameter holds (8 KB); split the flow`);
    // SSM can make a standard parameter advanced but not the reverse, and CloudFormation changes the tier in place:
    // each tier has its own construct id, so a change of tier replaces the parameter (its name is generated).
    const advanced = size > LAMBDA_ENVIRONMENT_LIMIT;
    const parameter = new StringParameter(fn, advanced ? 'environment-advanced' : 'environment', {
      description: `${what}: environment variables over Lambda's 4 KB (${Object.keys(moved).join(', ')})`,
      stringValue: value,
      tier: advanced ? ParameterTier.ADVANCED : ParameterTier.STANDARD,
    });
    Grant.addToPrincipal({ grantee: fn, actions: ['ssm:GetParameter'], resourceArns: [parameter.parameterArn] });
    env[ENVIRONMENT_PARAMETER_VARIABLE] = parameter.parameterName;
  }
  fn.node.addValidation({
    validate: () => {
      const variables = (fn.node.defaultChild as unknown as { environment?: IResolvable | { variables?: Record<string, string> } }).environment;
      const resolved = Stack.of(fn).resolve(variables) as { Variables?: Record<string, unknown>; variables?: Record<string, unknown> } | undefined;
      const vars = (resolved?.Variables ?? resolved?.variables ?? {}) as Record<string, unknown>;
      const types = resourceTypes(Stack.of(fn));
      const total = Object.entries(vars).reduce((n, [k, v]) => n + Buffer.byteLength(k) + longest(v, types), 0);
      return total > LAMBDA_ENVIRONMENT_LIMIT ? [`${what}: its environment can reach ${total} bytes with the longest names CloudFormation generates, over Lambda's 4 KB`] : [];
    },
  });
  return env;
}

/** For tests: the bound of a template's resolved environment variables. */
export function resolvedEnvironmentBound(variables: Record<string, unknown>, types: ReadonlyMap<string, string>): number {
  return Object.entries(variables).reduce((n, [k, v]) => n + Buffer.byteLength(k) + longest(v, types), 0);
}

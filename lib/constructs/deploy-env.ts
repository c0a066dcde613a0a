import { Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Context key that bin/app.ts fills with the account and region the CDK CLI targets (CDK_DEFAULT_ACCOUNT and
 * CDK_DEFAULT_REGION, which `cdk deploy` sets from the profile), used only to check the config against them.
 */
export const DEPLOY_ENV_CONTEXT = 'syncline:deployEnv';

/** Where the stack deploys, as far as synth knows it: the stack's own env, else the CDK CLI's target; undefined parts are unknown. */
export function deployEnv(scope: IConstruct): { readonly region?: string; readonly account?: string } {
  const stack = Stack.of(scope);
  const target = (scope.node.tryGetContext(DEPLOY_ENV_CONTEXT) ?? {}) as { region?: unknown; account?: unknown };
  const known = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    region: Token.isUnresolved(stack.region) ? known(target.region) : stack.region,
    account: Token.isUnresolved(stack.account) ? known(target.account) : stack.account,
  };
}

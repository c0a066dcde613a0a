import { Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Context key that bin/app.ts fills with the account and region the CDK CLI targets (CDK_DEFAULT_ACCOUNT and
 * CDK_DEFAULT_REGION, which `cdk deploy` sets from the profile; without one the CLI guesses us-east-1), used only to
 * warn: an environment-agnostic stack may still be deployed elsewhere (`cdk deploy --app cdk.out`).
 */
export const DEPLOY_ENV_CONTEXT = 'syncline:deployEnv';

interface Env {
  readonly region?: string;
  readonly account?: string;
}

/**
 * Where the stack deploys, as far as synth knows it: `fixed`, the stack's own env (a mismatch is refused), and
 * `likely`, the CDK CLI's target for an environment-agnostic stack (a mismatch is warned about). Undefined parts are unknown.
 */
export function deployEnv(scope: IConstruct): { readonly fixed: Env; readonly likely: Env } {
  const stack = Stack.of(scope);
  const target = (scope.node.tryGetContext(DEPLOY_ENV_CONTEXT) ?? {}) as { region?: unknown; account?: unknown };
  const known = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const fixed = { region: Token.isUnresolved(stack.region) ? undefined : stack.region, account: Token.isUnresolved(stack.account) ? undefined : stack.account };
  return { fixed, likely: { region: fixed.region ?? known(target.region), account: fixed.account ?? known(target.account) } };
}

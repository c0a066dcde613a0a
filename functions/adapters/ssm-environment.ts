import type { SSMClient } from '@aws-sdk/client-ssm';
import { messageOf } from '../core/errors';

/** Names the SSM parameter holding the variables that did not fit Lambda's 4 KB environment (lib/constructs/environment-budget.ts). */
export const ENVIRONMENT_PARAMETER_VARIABLE = 'SYNCLINE_ENVIRONMENT_PARAMETER';

/**
 * Copies the variables kept in the function's environment parameter (a JSON object of strings) into `env`, once
 * at cold start, so the rest of the module reads them like any other variable. Without the parameter it does nothing.
 */
export async function loadEnvironmentParameter(env: Record<string, string | undefined> = process.env, client?: Pick<SSMClient, 'send'>): Promise<void> {
  const name = env[ENVIRONMENT_PARAMETER_VARIABLE];
  if (!name) return;
  // Most functions have no parameter: the SSM client is loaded only for one that has.
  const { GetParameterCommand, SSMClient } = await import('@aws-sdk/client-ssm');
  const { Parameter } = await (client ?? new SSMClient({})).send(new GetParameterCommand({ Name: name }));
  let values: unknown;
  try {
    values = JSON.parse(Parameter?.Value ?? '');
  } catch (err) {
    throw new Error(`SSM parameter ${name} (${ENVIRONMENT_PARAMETER_VARIABLE}) is not valid JSON: ${messageOf(err)}`);
  }
  if (!values || typeof values !== 'object' || Array.isArray(values)) throw new Error(`SSM parameter ${name} must hold a JSON object of strings`);
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') throw new Error(`SSM parameter ${name}: variable ${k} is not a string`);
    env[k] ??= v;
  }
}

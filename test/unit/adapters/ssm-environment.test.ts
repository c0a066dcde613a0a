import 'aws-sdk-client-mock-vitest/extend';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadEnvironmentParameter } from '../../../functions/adapters/ssm-environment';

const ssm = mockClient(SSMClient);
const client = new SSMClient({ region: 'us-east-1' });

describe('loadEnvironmentParameter', () => {
  beforeEach(() => ssm.reset());

  it('copies the variables of the parameter into the environment', async () => {
    // Prepare
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify({ FLOW_RESOURCES: '{"queues":{}}' }) } });
    const env: Record<string, string | undefined> = { SYNCLINE_ENVIRONMENT_PARAMETER: 'CFN-abc', STATE_TABLE: 'state' };

    // Act
    await loadEnvironmentParameter(env, client);

    // Assess
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: 'CFN-abc' });
    expect(env).toMatchObject({ FLOW_RESOURCES: '{"queues":{}}', STATE_TABLE: 'state' });
  });

  it('does nothing without a parameter', async () => {
    await loadEnvironmentParameter({}, client);
    expect(ssm).not.toHaveReceivedCommand(GetParameterCommand);
  });

  it('fails the cold start, naming the parameter, when it does not hold a JSON object of strings', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '{"A": 1}' } });
    await expect(loadEnvironmentParameter({ SYNCLINE_ENVIRONMENT_PARAMETER: 'p1' }, client)).rejects.toThrow('SSM parameter p1: variable A is not a string');
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'nope' } });
    await expect(loadEnvironmentParameter({ SYNCLINE_ENVIRONMENT_PARAMETER: 'p1' }, client)).rejects.toThrow(/p1 .* is not valid JSON/);
  });
});

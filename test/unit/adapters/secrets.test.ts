import 'aws-sdk-client-mock-vitest/extend';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EnvSecrets, secretEnvVar } from '../../../functions/adapters/env-secrets';
import { SecretsManagerSecrets } from '../../../functions/adapters/secrets-manager-secrets';

const sm = mockClient(SecretsManagerClient);
const client = new SecretsManagerClient({ region: 'us-east-1' });

describe('SecretsManagerSecrets', () => {
  beforeEach(() => sm.reset());

  it('caches a value for 5 minutes per container', async () => {
    // Prepare
    let now = 0;
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'one' }).resolves({ SecretString: 'two' });
    const secrets = new SecretsManagerSecrets({ client, clock: { now: () => now } });

    // Act
    const first = await secrets.get('arn:aws:secretsmanager:us-east-1:1:secret:s');
    now = 299_000;
    const cached = await secrets.get('arn:aws:secretsmanager:us-east-1:1:secret:s');
    now = 301_000;
    const refreshed = await secrets.get('arn:aws:secretsmanager:us-east-1:1:secret:s');

    // Assess
    expect([first, cached, refreshed]).toEqual(['one', 'one', 'two']);
    expect(sm).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
    expect(sm).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: 'arn:aws:secretsmanager:us-east-1:1:secret:s' });
  });

  it('does not cache a failed read', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).rejectsOnce(new Error('boom')).resolves({ SecretString: 'ok' });
    const secrets = new SecretsManagerSecrets({ client });

    // Act / Assess
    await expect(secrets.get('s')).rejects.toThrow('boom');
    await expect(secrets.get('s')).resolves.toBe('ok');
  });
});

describe('EnvSecrets', () => {
  it('reads SYNCLINE_SECRET_<NAME> with every char outside A-Z0-9 turned into _', async () => {
    // Prepare
    const secrets = new EnvSecrets({ env: { SYNCLINE_SECRET_CRM_API_TOKEN_V2: 't0k3n' } });

    // Act
    const value = await secrets.get('crm/api-token.v2');

    // Assess
    expect(secretEnvVar('crm/api-token.v2')).toBe('SYNCLINE_SECRET_CRM_API_TOKEN_V2');
    expect(value).toBe('t0k3n');
  });

  it('prefers a provided map and names the variable when a secret is missing', async () => {
    // Prepare
    const secrets = new EnvSecrets({ env: { SYNCLINE_SECRET_A: 'env' }, values: { a: 'file' } });

    // Act / Assess
    await expect(secrets.get('a')).resolves.toBe('file');
    await expect(secrets.get('missing-one')).rejects.toThrow('SYNCLINE_SECRET_MISSING_ONE');
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load';
import { startRuntime } from '../../../lib/local/runtime';

describe('local runtime secrets', () => {
  it('refuses to start when a secret the config names is missing, naming the variable to set', async () => {
    // Prepare: an HTTP target whose token lives in the secret "crm/api-token"; nothing provides it.
    const config = parseConfig({
      flows: [
        {
          id: 'push',
          key: ['id'],
          sources: [{ id: 'app', type: 'webhook' }],
          targets: [{ id: 'crm', type: 'http', url: 'https://crm.example.com/contacts/{key}', secretName: 'crm/api-token' }],
        },
      ],
    });

    // Act
    const starting = startRuntime({ config, port: 0, env: {}, log: () => {} });

    // Assess: the error names the secret and the exact variable, before any server started.
    await expect(starting).rejects.toThrow(/secret "crm\/api-token" is not set: set SYNCLINE_SECRET_CRM_API_TOKEN/);
  });
});

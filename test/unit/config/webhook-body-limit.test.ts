import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load';
import { MAX_WEBHOOK_BODY_BYTES } from '../../../functions/config/schema';

const config = (maxBodyBytes: number) => ({
  flows: [{ id: 'hooks', key: ['id'], sources: [{ id: 'crm', type: 'webhook', maxBodyBytes }], targets: [{ id: 't', type: 'dynamodb' }] }],
});

describe('a webhook source’s maxBodyBytes', () => {
  it('fits the Lambda invocation once API Gateway has base64-encoded it, with room for headers and context', () => {
    const LAMBDA_SYNC_PAYLOAD = 6 * 1024 * 1024;
    expect(Math.ceil(MAX_WEBHOOK_BODY_BYTES / 3) * 4).toBeLessThanOrEqual(LAMBDA_SYNC_PAYLOAD - 256 * 1024);
  });

  it('is refused above that bound at validation, with the flow and the JSON path', () => {
    expect(() => parseConfig(config(6_000_000))).toThrow(/flow "hooks" at \$\.flows\[0\]\.sources\[0\]\.maxBodyBytes: must be at most 4500000/);
    expect(() => parseConfig(config(MAX_WEBHOOK_BODY_BYTES + 1))).toThrow(/maxBodyBytes/);
  });

  it('is taken up to the bound', () => {
    expect(parseConfig(config(MAX_WEBHOOK_BODY_BYTES)).flows[0]!.sources[0]).toMatchObject({ maxBodyBytes: MAX_WEBHOOK_BODY_BYTES });
  });
});

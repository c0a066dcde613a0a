import { describe, expect, it } from 'vitest';
import { printBanner } from '../../../lib/cli/dev';
import { parseConfig } from '../../../lib/config/load';
import type { Runtime } from '../../../lib/local/runtime';

/** The parts of a started runtime the banner reads. */
const runtime = (flowId: string, sourceId: string) =>
  ({
    url: 'http://127.0.0.1:3000',
    webhooks: [{ flowId, sourceId, urls: [`http://127.0.0.1:3000/webhooks/${flowId}/${sourceId}`] }],
    resources: { flows: {} },
    schedules: new Map(),
    webhookSecret: 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA==',
    webhookSecretGenerated: true,
    endpoints: { dynamodb: 'http://127.0.0.1:1', sqs: 'http://127.0.0.1:2' },
  }) as unknown as Runtime;

const banner = (source: Record<string, unknown>) => {
  const config = parseConfig({ flows: [{ id: 'issues', key: ['id'], sources: [{ id: 'hook', type: 'webhook', ...source }], targets: [{ id: 'replica', type: 'dynamodb' }] }] });
  const lines: string[] = [];
  printBanner(runtime('issues', 'hook'), config, (line) => lines.push(line));
  return lines.join('\n');
};

describe('the dev banner', () => {
  it('prints the generated webhook secret when a source is signed with it', () => {
    expect(banner({})).toContain('webhook secret (sources without a secretName): whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNA==');
  });

  it('leaves the shared secret out when every webhook source names its own, and shows that source\'s scheme', () => {
    const text = banner({ auth: { type: 'github', secretName: 'github-webhook-secret' } });
    expect(text).not.toContain('webhook secret');
    expect(text).toContain('POST http://127.0.0.1:3000/webhooks/issues/hook  (github, secret github-webhook-secret)');
  });
});

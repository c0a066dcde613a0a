import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../lib/config/load';

const flowWith = (source: Record<string, unknown>) => ({ flows: [{ id: 'crm-sync', key: ['id'], sources: [{ id: 'api', ...source }], targets: [{ id: 't', type: 'dynamodb' }] }] });

function messageOf(raw: unknown): string {
  try {
    parseConfig(raw, 'test');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('config errors inside unions', () => {
  it('name the missing field of the branch the input meant (cursor pagination without param), with flow and path', () => {
    const message = messageOf(flowWith({ type: 'schedule', every: '5 minutes', http: { url: 'https://api.example.com/items', itemsPath: 'items', pagination: { type: 'cursor', cursorPath: 'next' } } }));
    expect(message).toContain('flow "crm-sync" at $.flows[0].sources[0].http.pagination.param: missing required field "param" (expected string)');
    expect(message).not.toContain('Invalid input');
  });

  it('list the allowed types when no branch matches the type', () => {
    const message = messageOf(flowWith({ type: 'webhok' }));
    expect(message).toContain('flow "crm-sync" at $.flows[0].sources[0].type: unknown type: expected one of "webhook", "dynamodb-stream", "schedule", "sqs", "eventbridge"');
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load';
import { DEBEZIUM_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES } from '../../../functions/config/schema';
import { planFlow, unsupportedTypes } from '../../../functions/plan/plan';

const flowWith = (source: Record<string, unknown>) => ({
  flows: [{ id: 'cdc', key: ['id'], sources: [{ id: 'db', type: 'webhook', ...source }], targets: [{ id: 'out', type: 'dynamodb' }] }],
});

describe('debezium webhook source config', () => {
  it('defaults the body limit to what a Debezium Server batch with schemas needs, and keeps 1 MB for json', () => {
    const debezium = parseConfig(flowWith({ format: 'debezium' }), 'test').flows[0]!.sources[0]!;
    const json = parseConfig(flowWith({}), 'test').flows[0]!.sources[0]!;
    expect(debezium).toMatchObject({ maxBodyBytes: DEBEZIUM_MAX_BODY_BYTES, onTruncate: 'ignore' });
    expect(json).toMatchObject({ maxBodyBytes: DEFAULT_MAX_BODY_BYTES });
    expect(parseConfig(flowWith({ format: 'debezium', maxBodyBytes: 2_000_000 }), 'test').flows[0]!.sources[0]).toMatchObject({ maxBodyBytes: 2_000_000 });
  });

  it('names the flow and path of a bad onTruncate', () => {
    expect(() => parseConfig(flowWith({ format: 'debezium', onTruncate: 'drop' }), 'test')).toThrow(/flow "cdc".*onTruncate/s);
  });

  it('accepts onTruncate "delete", and lets only that flow\'s resolve step send to its own queue', () => {
    const deleting = parseConfig(flowWith({ format: 'debezium', onTruncate: 'delete' }), 'test');
    const ignoring = parseConfig(flowWith({ format: 'debezium' }), 'test');
    expect(unsupportedTypes(deleting)).toEqual([]);
    const resolveOf = (config: typeof deleting) => planFlow(config.flows[0]!).functions.find((f) => f.step === 'resolve')!;
    expect(resolveOf(deleting).sendsTo).toEqual(['deliver-out', 'resolve']);
    // Every resolve sends to its own queue (a failed record of a pack goes back there); the index grant is what differs.
    expect(resolveOf(ignoring).sendsTo).toEqual(['deliver-out', 'resolve']);
  });
});

import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../functions/config/schema';
import { contactsFlow } from '../../fixtures/flows';
import { functionBundle } from '../../fixtures/function-bundle';

// Bundles built as the CDK builds them: what each function carries, and what it loads at cold start.
const holds = (inputs: readonly string[], fragment: string) => inputs.some((p) => p.includes(fragment));

const withTargets = flowSchema.parse({
  ...contactsFlow,
  targets: [...contactsFlow.targets, { id: 'lake', type: 's3' }, { id: 'bus', type: 'eventbridge' }],
});

describe('function bundles', () => {
  it('leave the clients a function seldom calls to the runtime, loading none of them at cold start', async () => {
    // Act
    const [deliver, resolve, transform] = await Promise.all([
      functionBundle('deliver-dynamodb', withTargets, { targetId: 'replica' }),
      functionBundle('resolve', withTargets),
      functionBundle('transform', withTargets),
    ]);

    // Assess
    for (const bundle of [deliver, resolve, transform]) {
      expect(bundle.staticExternals).toEqual([]);
      expect(holds(bundle.inputs, 'node_modules/@aws-sdk/client-s3/')).toBe(false);
      expect(holds(bundle.inputs, 'node_modules/@aws-sdk/client-eventbridge/')).toBe(false);
    }
    expect(holds(transform.inputs, 'node_modules/@aws-sdk/client-secrets-manager/')).toBe(true);
  });

  it('bundle only the commands syncline sends of a client a function calls at every invocation', async () => {
    // Act
    const [s3, events] = await Promise.all([functionBundle('deliver-s3', withTargets, { targetId: 'lake' }), functionBundle('deliver-eventbridge', withTargets, { targetId: 'bus' })]);

    // Assess
    expect(s3.staticExternals).toEqual([]);
    expect(holds(s3.inputs, 'client-s3/dist-es/commands/PutObjectCommand.js')).toBe(true);
    expect(holds(s3.inputs, 'client-s3/dist-es/commands/CreateBucketCommand.js')).toBe(false);
    expect(holds(s3.inputs, 'client-s3/dist-es/S3.js')).toBe(false);
    expect(holds(events.inputs, 'client-eventbridge/dist-es/commands/PutEventsCommand.js')).toBe(true);
    expect(holds(events.inputs, 'client-eventbridge/dist-es/commands/CreateEventBusCommand.js')).toBe(false);
  });

  it('hold only the stores their step uses', async () => {
    // Act
    const [capture, resolve] = await Promise.all([functionBundle('webhook-capture', contactsFlow, { sourceId: 'crm' }), functionBundle('resolve', contactsFlow)]);

    // Assess
    expect(holds(capture.inputs, 'functions/adapters/dynamodb-dedup-store.ts')).toBe(true);
    // At most the few bytes of import glue esbuild keeps of a module whose code is all shaken out.
    for (const store of ['dynamodb-state-store.ts', 'dynamodb-pull-state-store.ts', 'dynamodb-conflict-store.ts']) {
      expect(capture.bytesFrom(`functions/adapters/${store}`)).toBeLessThan(64);
    }
    expect(holds(resolve.inputs, 'functions/adapters/dynamodb-state-store.ts')).toBe(true);
    expect(holds(resolve.inputs, 'functions/adapters/dynamodb-conflict-store.ts')).toBe(true);
  });

  it('carry the XML parser only for a flow with a Salesforce Outbound Message source', async () => {
    // Prepare
    const salesforce = flowSchema.parse({
      ...contactsFlow,
      sources: [...contactsFlow.sources, { id: 'sf', type: 'webhook', format: 'salesforce-outbound', organizationId: '00D5e000000KQ2eEAG', auth: { type: 'token', secretName: 'sf-token', query: 'token' } }],
    });

    // Act
    const [json, xml] = await Promise.all([functionBundle('webhook-capture', contactsFlow, { sourceId: 'crm' }), functionBundle('webhook-capture', salesforce, { sourceId: 'sf' })]);

    // Assess
    expect(holds(json.inputs, 'node_modules/fast-xml-parser/')).toBe(false);
    expect(holds(xml.inputs, 'node_modules/fast-xml-parser/')).toBe(true);
  });
});

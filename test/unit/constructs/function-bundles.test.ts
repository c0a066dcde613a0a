import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../functions/config/schema';
import { contactsFlow } from '../../fixtures/flows';
import { functionBundle, type FunctionBundle } from '../../fixtures/function-bundle';

// Bundles built as the CDK builds them: what each function carries, and what it loads at cold start.
// esbuild keeps a few bytes of import glue of a module whose code is all shaken out: holding a module means more.
const holds = (bundle: FunctionBundle, fragment: string) => bundle.bytesFrom(fragment) > 256;

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
      expect(holds(bundle, 'node_modules/@aws-sdk/client-s3/')).toBe(false);
      expect(holds(bundle, 'node_modules/@aws-sdk/client-eventbridge/')).toBe(false);
    }
    expect(holds(transform, 'node_modules/@aws-sdk/client-secrets-manager/')).toBe(true);
  });

  it('bundle only the commands syncline sends of a client a function calls at every invocation', async () => {
    // Act
    const [s3, events] = await Promise.all([functionBundle('deliver-s3', withTargets, { targetId: 'lake' }), functionBundle('deliver-eventbridge', withTargets, { targetId: 'bus' })]);

    // Assess
    expect(s3.staticExternals).toEqual([]);
    // A command's module is a one-line class: any byte of it means the command is in.
    expect(s3.bytesFrom('client-s3/dist-es/commands/PutObjectCommand.js')).toBeGreaterThan(0);
    expect(s3.bytesFrom('client-s3/dist-es/commands/CreateBucketCommand.js')).toBe(0);
    expect(s3.bytesFrom('client-s3/dist-es/S3.js')).toBe(0);
    expect(events.bytesFrom('client-eventbridge/dist-es/commands/PutEventsCommand.js')).toBeGreaterThan(0);
    expect(events.bytesFrom('client-eventbridge/dist-es/commands/CreateEventBusCommand.js')).toBe(0);
  });

  it('hold only the stores their step uses', async () => {
    // Act
    const [capture, resolve] = await Promise.all([functionBundle('webhook-capture', contactsFlow, { sourceId: 'crm' }), functionBundle('resolve', contactsFlow)]);

    // Assess
    expect(holds(capture, 'functions/adapters/dynamodb-dedup-store.ts')).toBe(true);
    for (const store of ['dynamodb-state-store.ts', 'dynamodb-pull-state-store.ts', 'dynamodb-conflict-store.ts']) {
      expect(holds(capture, `functions/adapters/${store}`)).toBe(false);
    }
    expect(holds(resolve, 'functions/adapters/dynamodb-state-store.ts')).toBe(true);
    expect(holds(resolve, 'functions/adapters/dynamodb-conflict-store.ts')).toBe(true);
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
    expect(holds(json, 'node_modules/fast-xml-parser/')).toBe(false);
    expect(holds(xml, 'node_modules/fast-xml-parser/')).toBe(true);
  });

  it('carry JSONata and the Standard Webhooks signer in an http delivery only for targets that use them', async () => {
    // Prepare
    const plain = flowSchema.parse({ ...contactsFlow, targets: [{ id: 'api', type: 'http', url: 'https://api.example/contacts/{key}' }] });
    const templated = flowSchema.parse({
      ...contactsFlow,
      targets: [{ id: 'api', type: 'http', url: 'https://api.example/contacts/{key}', body: '{ "email": email }', auth: { type: 'webhook', secretName: 'api-signing' } }],
    });

    // Act
    const [bare, full] = await Promise.all([functionBundle('deliver-http', plain, { targetId: 'api' }), functionBundle('deliver-http', templated, { targetId: 'api' })]);

    // Assess
    expect(holds(bare, 'node_modules/jsonata/')).toBe(false);
    expect(holds(bare, 'node_modules/standardwebhooks/')).toBe(false);
    expect(holds(full, 'node_modules/jsonata/')).toBe(true);
    expect(holds(full, 'node_modules/standardwebhooks/')).toBe(true);
  });

  it('carry the S3 object reader and its CSV parser only for a flow that pulls from S3', async () => {
    // Prepare
    const pull = (source: Record<string, unknown>) => flowSchema.parse({ ...contactsFlow, sources: [{ id: 'nightly', type: 'schedule', every: '1 hour', ...source }] });

    // Act
    const [http, s3] = await Promise.all([
      functionBundle('schedule-capture', pull({ http: { url: 'https://crm.example/contacts' } }), { sourceId: 'nightly' }),
      functionBundle('schedule-capture', pull({ s3: { bucket: 'exports', format: 'csv' } }), { sourceId: 'nightly' }),
    ]);

    // Assess
    expect(holds(http, 'node_modules/csv-parse/')).toBe(false);
    expect(holds(s3, 'node_modules/csv-parse/')).toBe(true);
    expect(s3.staticExternals).toEqual([]);
  });

  it('carry no JSON Schema compiler in the admin function, and the Debezium reader only for a flow with a Debezium source', async () => {
    // Prepare
    const debezium = flowSchema.parse({ ...contactsFlow, sources: [...contactsFlow.sources, { id: 'cdc', type: 'webhook', format: 'debezium' }] });

    // Act
    const [admin, json, cdc] = await Promise.all([
      functionBundle('admin', contactsFlow),
      functionBundle('webhook-capture', contactsFlow, { sourceId: 'crm' }),
      functionBundle('webhook-capture', debezium, { sourceId: 'cdc' }),
    ]);

    // Assess: the schema was compiled at synth; ajv's runtime helpers stay, its compiler and URI resolver do not.
    expect(holds(admin, 'node_modules/ajv/dist/compile/')).toBe(false);
    expect(holds(admin, 'node_modules/fast-uri/')).toBe(false);
    expect(admin.staticExternals).toEqual([]);
    expect(holds(json, 'functions/core/capture/debezium')).toBe(false);
    expect(holds(cdc, 'functions/core/capture/debezium')).toBe(true);
  });
});

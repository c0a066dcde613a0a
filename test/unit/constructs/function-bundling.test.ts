import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../functions/config/schema';
import { flowFunctionBundling, ON_DEMAND_CLIENTS, runtimeSdkModules, UNREACHED_CREDENTIAL_MODULES } from '../../../lib/constructs/function-bundling';
import { contactsFlow, manualFlow } from '../../fixtures/flows';

const S3 = '@aws-sdk/client-s3';
const SECRETS = '@aws-sdk/client-secrets-manager';
const EVENTS = '@aws-sdk/client-eventbridge';

describe('function bundling', () => {
  it('bundles the on-demand clients a function calls at every cold start, and leaves the others to the runtime', () => {
    // Prepare
    const flow = flowSchema.parse({ ...contactsFlow, targets: [...contactsFlow.targets, { id: 'lake', type: 's3' }, { id: 'api', type: 'http', url: 'https://x.example/{key}', auth: { type: 'bearer', secretName: 'api-token' } }] });

    // Act
    const external = (fn: Parameters<typeof runtimeSdkModules>[1], f = flow) => runtimeSdkModules(f, fn);

    // Assess
    expect(external({ handler: 'deliver-dynamodb', targetId: 'replica' })).toEqual([...UNREACHED_CREDENTIAL_MODULES, '@smithy/core/event-streams', ...ON_DEMAND_CLIENTS]);
    // The S3 client imports event-stream support statically: a function that bundles S3 bundles it too.
    expect(external({ handler: 'deliver-s3', targetId: 'lake' })).not.toContain('@smithy/core/event-streams');
    expect(external({ handler: 'transform' })).not.toContain(SECRETS);
    expect(external({ handler: 'deliver-s3', targetId: 'lake' })).not.toContain(S3);
    expect(external({ handler: 'deliver-http', targetId: 'api' })).not.toContain(SECRETS);
    expect(external({ handler: 'resolve' })).toContain(EVENTS);
    expect(external({ handler: 'resolve' }, manualFlow)).not.toContain(EVENTS);
  });

  it('bakes the flow as the schema outputs it, defaults applied', () => {
    // Prepare: a flow without the fields the schema defaults.
    const bare = { id: 'bare', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], targets: [{ id: 'replica', type: 'dynamodb' }] } as never;

    // Act
    const baked = JSON.parse(flowFunctionBundling(bare, { handler: 'transform' }).define!.__SYNCLINE_FLOW__!);

    // Assess
    expect(baked).toEqual(JSON.parse(JSON.stringify(flowSchema.parse(bare))));
    expect(baked.audit).toEqual({ level: 'all', retentionDays: 90 });
  });
});

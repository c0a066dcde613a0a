import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { beforeAll, describe, expect, it } from 'vitest';
import { SyncFlow } from '../../lib/constructs/sync-flow';
import { SyncStore } from '../../lib/constructs/sync-store';
import { cdkFlags, exampleConfig, placeholderProjectRoot } from './helpers';

const ENTRY = `import { SQSClient } from '@aws-sdk/client-sqs';
declare const __SYNCLINE_FLOW__: { id: string; conflict: { strategy: string } };
const client = new SQSClient({});
export const handler = async () => ({ flow: __SYNCLINE_FLOW__.id, strategy: __SYNCLINE_FLOW__.conflict.strategy, client, require: typeof require });
`;

let bundles: string[];

beforeAll(() => {
  // Prepare: real esbuild bundling (local, no Docker) of placeholder entries that use the baked config and the SDK.
  const root = placeholderProjectRoot(ENTRY, true);
  const app = new App({ context: cdkFlags(), outdir: join(root, 'cdk.out') });
  const stack = new Stack(app, 'Bundled');
  new SyncFlow(stack, 'Flow', { flow: exampleConfig().flows[0], store: new SyncStore(stack, 'Store'), httpApi: new HttpApi(stack, 'Api'), projectRoot: root });
  const out = app.synth().directory;
  bundles = readdirSync(out)
    .filter((d) => d.startsWith('asset.'))
    .map((d) => readFileSync(join(out, d, 'index.mjs'), 'utf8'));
}, 180_000);

describe('function bundles', () => {
  it('are minified ES modules with a createRequire banner and a source map', () => {
    // capture, transform, resolve, deliver, and the flow's admin function.
    expect(bundles).toHaveLength(5);
    for (const code of bundles) {
      expect(code.startsWith("import { createRequire as __syncline_createRequire } from 'node:module';")).toBe(true);
      expect(code).toMatch(/export\s*\{/);
      expect(code).toContain('//# sourceMappingURL=index.mjs.map');
    }
  });

  it('carry the flow config compiled in', () => {
    for (const code of bundles) {
      expect(code).toContain('crm-contacts');
      expect(code).toContain('field-lww');
      expect(code).not.toContain('__SYNCLINE_FLOW__');
    }
  });

  it('bundle the AWS SDK v3 instead of importing it from the runtime', () => {
    for (const code of bundles) expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
  });
});

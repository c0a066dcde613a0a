import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lib/config/load';
import type { SynclineConfig, SynclineConfigInput } from '../../functions/config/schema';
import { ADMIN_ENTRY_FILES, ENTRY_FILES } from '../../functions/plan/plan';
import { applyNagAcknowledgements } from '../../lib/stacks/nag';
import { SyncStack } from '../../lib/stacks/sync-stack';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };

/** The feature flags of cdk.json, so tests synthesize like `cdk synth` does. */
export function cdkFlags(): Record<string, unknown> {
  const { syncline: _example, ...flags } = cdkJson.context;
  return flags;
}

/** The example config of cdk.json, validated. */
export function exampleConfigInput(): SynclineConfigInput {
  return structuredClone(cdkJson.context.syncline) as SynclineConfigInput;
}

export function exampleConfig(overrides: Partial<SynclineConfigInput> = {}): SynclineConfig {
  return parseConfig({ ...exampleConfigInput(), ...overrides });
}

/**
 * A throwaway project root with placeholder entry files, so infra tests do not depend on the real handlers.
 * With `withNodeModules`, it links the repo's node_modules so esbuild can really bundle.
 */
export function placeholderProjectRoot(entryBody = 'export const handler = async () => ({});\n', withNodeModules = false): string {
  const root = mkdtempSync(join(tmpdir(), 'syncline-infra-'));
  for (const file of [...Object.values(ENTRY_FILES), ...Object.values(ADMIN_ENTRY_FILES)]) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), entryBody);
  }
  copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(root, 'package-lock.json'));
  if (withNodeModules) symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  return root;
}

/** An App that skips bundling (asset hashes and esbuild runs are not what infra tests check). */
export function testApp(): App {
  return new App({ context: { ...cdkFlags(), 'aws:cdk:bundling-stacks': [] } });
}

export function synthStack(config: SynclineConfig, id = 'Test', acknowledge = true): { app: App; stack: SyncStack; template: Template } {
  const app = testApp();
  const stack = new SyncStack(app, id, { config, projectRoot: placeholderProjectRoot() });
  if (acknowledge) applyNagAcknowledgements(stack);
  return { app, stack, template: Template.fromStack(stack) };
}

/** A second flow shaped like the example one, with another id. */
export function flowLike(id: string): Record<string, unknown> {
  const flow = structuredClone((exampleConfigInput().flows as Record<string, unknown>[])[0]);
  return { ...flow, id };
}

/**
 * The core bench run on the core as a Lambda function ships it: bundled and minified by esbuild (lib/constructs/
 * function-defaults.ts). Run from source, tsx keeps function names (a `__name` call per closure made), which the
 * deployed bundles do not pay.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { FlowConfig } from '../../functions/config/schema';
import { LAMBDA_ESBUILD } from '../fixtures/function-bundle';
import type { benchCore as BenchCore, CoreResult } from './core';

export async function benchCoreBundled(flow: FlowConfig, options: Parameters<typeof BenchCore>[1] = {}): Promise<CoreResult> {
  const result = await build({ ...LAMBDA_ESBUILD, entryPoints: [resolve('test/bench/core.ts')], logLevel: 'silent' });
  // Inside the project, so anything left external resolves from node_modules.
  mkdirSync(resolve('node_modules/.cache'), { recursive: true });
  const dir = mkdtempSync(resolve('node_modules/.cache/syncline-bench-core-'));
  try {
    const file = join(dir, 'core.mjs');
    writeFileSync(file, result.outputFiles[0]!.contents);
    const bundled = (await import(pathToFileURL(file).href)) as { benchCore: typeof BenchCore };
    return await bundled.benchCore(flow, options);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

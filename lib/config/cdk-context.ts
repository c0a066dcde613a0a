import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The `syncline` value of cdk.json's context, or the file named by `syncline:config`
 * (resolved against cdk.json's folder), as the CDK app would see it.
 */
export function readCdkContext(cwd = process.cwd()): { context?: unknown; file?: string } {
  const cdkJson = join(cwd, 'cdk.json');
  if (!existsSync(cdkJson)) return {};
  const context = (JSON.parse(readFileSync(cdkJson, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
  const file = context['syncline:config'];
  if (typeof file === 'string') return { file: resolve(dirname(cdkJson), file) };
  return { context: context.syncline };
}

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type SynclineConfig } from './schema';

/** A config problem, located by JSON path and, where it lies inside a flow, by flow id. */
export interface ConfigIssue {
  readonly path: string;
  readonly flow?: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[], readonly origin: string) {
    super(`invalid syncline config (${origin}):\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return `  ${issue.flow ? `flow "${issue.flow}" ` : ''}at ${issue.path}: ${issue.message}`;
}

function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : /^[A-Za-z_$][\w$]*$/.test(String(part)) ? `${acc}.${String(part)}` : `${acc}[${JSON.stringify(String(part))}]`), '$');
}

function toIssues(raw: unknown, error: z.ZodError): ConfigIssue[] {
  const flows = (raw as { flows?: unknown })?.flows;
  return error.issues.map((issue) => {
    let flow: string | undefined;
    if (issue.path[0] === 'flows' && typeof issue.path[1] === 'number' && Array.isArray(flows)) {
      const id = (flows[issue.path[1]] as { id?: unknown } | undefined)?.id;
      flow = typeof id === 'string' ? id : `#${issue.path[1]}`;
    }
    return { path: jsonPath(issue.path), flow, message: issue.message };
  });
}

/** Validates a raw config object; throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, origin = 'config'): SynclineConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(toIssues(raw, result.error), origin);
  return result.data;
}

/** Reads a JSON or YAML file without validating it. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '$', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }], file);
  }
  try {
    return ['.yaml', '.yml'].includes(extname(file).toLowerCase()) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ path: '$', message: `not valid ${extname(file).slice(1) || 'JSON'}: ${(err as Error).message}` }], file);
  }
}

/** Loads from a file, or from the `syncline` context value (an object, or `{config: path}`). */
export function loadConfig(source: { file?: string; context?: unknown }): SynclineConfig {
  if (source.file) return parseConfig(readConfigFile(source.file), source.file);
  const ctx = source.context;
  if (typeof ctx === 'string') {
    try {
      return parseConfig(JSON.parse(ctx), 'context "syncline"');
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([{ path: '$', message: 'context "syncline" is a string that is not JSON' }], 'context');
    }
  }
  if (ctx === undefined || ctx === null) {
    throw new ConfigError([{ path: '$', message: 'no config: set the "syncline" context key in cdk.json or pass -c syncline:config=<file>' }], 'context');
  }
  return parseConfig(ctx, 'context "syncline"');
}

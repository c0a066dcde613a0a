import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseLossless } from 'lossless-json';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type SynclineConfig } from '../../functions/config/schema';
import { messageOf, SynclineError } from '../../functions/core/errors';

/** A config problem, located by JSON path and, where it lies inside a flow, by flow id. */
export interface ConfigIssue {
  readonly path: string;
  readonly flow?: string;
  readonly message: string;
}

export class ConfigError extends SynclineError {
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

type ZodIssue = z.ZodError['issues'][number];

/**
 * A union's own issue says only "Invalid input"; the issues of the branch the input was meant for say what is
 * missing. That branch is the one with the fewest mismatched literals (its `type` matched), then the fewest issues.
 */
function explainUnions(issues: readonly ZodIssue[], prefix: readonly PropertyKey[] = []): ZodIssue[] {
  return issues.flatMap((issue): ZodIssue[] => {
    const path = [...prefix, ...issue.path];
    // A discriminated union whose `type` matches no branch lists the allowed values itself.
    const options = issue.code === 'invalid_union' ? (issue as { options?: unknown[] }).options : undefined;
    if (options && options.length > 0) return [{ ...issue, path, message: `unknown type: expected one of ${options.map((v) => JSON.stringify(v)).join(', ')}` }];
    const branches = issue.code === 'invalid_union' ? (issue as { errors?: ZodIssue[][] }).errors : undefined;
    if (!branches || branches.length === 0) return [{ ...issue, path }];
    const typeMiss = (b: readonly ZodIssue[]) => b.find((i) => i.code === 'invalid_value' && i.path.length === 1 && i.path[0] === 'type') as (ZodIssue & { values?: unknown[] }) | undefined;
    if (branches.every((b) => typeMiss(b))) {
      const allowed = branches.flatMap((b) => typeMiss(b)!.values ?? []).map((v) => JSON.stringify(v));
      return [{ ...issue, path: [...path, 'type'], message: `unknown type: expected one of ${allowed.join(', ')}` }];
    }
    const literalMisses = (b: readonly ZodIssue[]) => b.filter((i) => i.code === 'invalid_value' || (i.code === 'invalid_type' && i.path.length === 1 && i.path[0] === 'type')).length;
    const best = [...branches].sort((a, b) => literalMisses(a) - literalMisses(b) || a.length - b.length)[0]!;
    return best.length > 0 ? explainUnions(best, path) : [{ ...issue, path }];
  });
}

function toIssues(raw: unknown, error: z.ZodError): ConfigIssue[] {
  const flows = (raw as { flows?: unknown })?.flows;
  return explainUnions(error.issues).map((issue) => {
    let flow: string | undefined;
    if (issue.path[0] === 'flows' && typeof issue.path[1] === 'number' && Array.isArray(flows)) {
      const id = (flows[issue.path[1]] as { id?: unknown } | undefined)?.id;
      flow = typeof id === 'string' ? id : `#${issue.path[1]}`;
    }
    const last = issue.path[issue.path.length - 1];
    const missing = issue.code === 'invalid_type' && /received undefined$/.test(issue.message) && last !== undefined;
    const message = missing ? `missing required field "${String(last)}" (${issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')})` : issue.message;
    return { path: jsonPath(issue.path), flow, message };
  });
}

/** Validates a raw config object; throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, origin = 'config'): SynclineConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(toIssues(raw, result.error), origin);
  return result.data;
}

/**
 * JSON as a config file holds it: a leading byte-order mark (editors on Windows write one) is skipped, and a key twice
 * in one object is refused, as YAML refuses it, rather than the last one silently counting.
 */
function parseConfigJson(text: string): unknown {
  return parseLossless(text.replace(/^\uFEFF/, ''), null, {
    parseNumber: Number,
    onDuplicateKey: ({ key }) => {
      throw new SyntaxError(`the key "${key}" appears twice in one object: only one of them would count`);
    },
  });
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
    return ['.yaml', '.yml'].includes(extname(file).toLowerCase()) ? parseYaml(text, { merge: true }) : parseConfigJson(text);
  } catch (err) {
    throw new ConfigError([{ path: '$', message: `not valid ${extname(file).slice(1) || 'JSON'}: ${messageOf(err)}` }], file);
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

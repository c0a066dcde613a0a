import type { SynclineConfig } from '../../functions/config/schema';
import { UnsupportedError, unsupportedTypes } from '../../functions/plan/plan';
import { validateFlowsDeep } from './deep-validate';
import { ConfigError, formatIssue, loadConfig } from './load';

/** A config that passed every check, or every problem found, each naming its flow and JSON path. */
export type ConfigCheck = { readonly ok: true; readonly config: SynclineConfig } | { readonly ok: false; readonly origin?: string; readonly problems: readonly string[] };

/**
 * Every check of a flows config, in one place for the CDK app and `syncline validate`: the schema (cron included),
 * the types that have a runtime, and the deep checks (JSONata, event patterns, JSON Schemas, the PII taint check).
 */
export function checkConfig(input: Parameters<typeof loadConfig>[0]): ConfigCheck {
  try {
    const config = loadConfig(input);
    const problems = [...unsupportedTypes(config), ...validateFlowsDeep(config)];
    return problems.length === 0 ? { ok: true, config } : { ok: false, origin: input.file ?? 'context "syncline"', problems };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, origin: err.origin, problems: err.issues.map((i) => formatIssue(i).trim()) };
    if (err instanceof UnsupportedError) return { ok: false, origin: input.file ?? 'context "syncline"', problems: err.problems };
    throw err;
  }
}

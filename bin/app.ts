import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { validateFlowsDeep } from '../lib/config/deep-validate';
import { ConfigError, formatIssue, loadConfig } from '../lib/config/load';
import type { SynclineConfig } from '../functions/config/schema';
import { UnsupportedError, plan } from '../functions/plan/plan';
import { applyNagAcknowledgements } from '../lib/stacks/nag';
import { SyncStack } from '../lib/stacks/sync-stack';

/** Loads and checks the config; on a problem prints each one (flow and JSON path) and exits 1, without a stack trace. */
function configOrExit(app: App): SynclineConfig {
  const file = app.node.tryGetContext('syncline:config') as unknown;
  try {
    const config =
      typeof file === 'string' && file !== '' ? loadConfig({ file: resolve(file) }) : loadConfig({ context: app.node.tryGetContext('syncline') as unknown });
    plan(config);
    const deep = validateFlowsDeep(config);
    if (deep.length) throw new UnsupportedError(deep);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`syncline: invalid config (${err.origin}):\n${err.issues.map(formatIssue).join('\n')}\n`);
    } else if (err instanceof UnsupportedError) {
      process.stderr.write(`syncline: invalid config:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    } else {
      throw err;
    }
    process.exit(1);
  }
}

const app = new App();
const config = configOrExit(app);
const stack = new SyncStack(app, config.stackName, {
  config,
  description: `syncline: ${config.flows.length} data-sync flow(s)`,
});
applyNagAcknowledgements(stack);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

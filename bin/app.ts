import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { checkConfig } from '../lib/config/check';
import type { SynclineConfig } from '../functions/config/schema';
import { applyNagAcknowledgements } from '../lib/stacks/nag';
import { SyncStack } from '../lib/stacks/sync-stack';

/** Loads and checks the config; on a problem prints each one (flow and JSON path) and exits 1, without a stack trace. */
function configOrExit(app: App): SynclineConfig {
  const file = app.node.tryGetContext('syncline:config') as unknown;
  const check = checkConfig(typeof file === 'string' && file !== '' ? { file: resolve(file) } : { context: app.node.tryGetContext('syncline') as unknown });
  if (check.ok) return check.config;
  process.stderr.write(`syncline: invalid config${check.origin ? ` (${check.origin})` : ''}:\n${check.problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}

const app = new App();
const config = configOrExit(app);
const stack = new SyncStack(app, config.stackName, {
  config,
  description: `syncline: ${config.flows.length} data-sync flow(s)`,
});
applyNagAcknowledgements(stack);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

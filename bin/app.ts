import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { checkConfig } from '../lib/config/check';
import type { SynclineConfig } from '../functions/config/schema';
import { applyNagAcknowledgements } from '../lib/stacks/nag';
import { SyncStack } from '../lib/stacks/sync-stack';
import { DEPLOY_ENV_CONTEXT } from '../lib/constructs/deploy-env';
import { SynthProblem, templateSizeProblems } from '../lib/stacks/synth-problem';

/** Loads and checks the config; on a problem prints each one (flow and JSON path) and exits 1, without a stack trace. */
function configOrExit(app: App): SynclineConfig {
  const file = app.node.tryGetContext('syncline:config') as unknown;
  const check = checkConfig(typeof file === 'string' && file !== '' ? { file: resolve(file) } : { context: app.node.tryGetContext('syncline') as unknown });
  if (check.ok) return check.config;
  process.stderr.write(`syncline: invalid config${check.origin ? ` (${check.origin})` : ''}:\n${check.problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}

/** Prints what keeps a valid config from becoming a deployable stack, and exits 1, without a stack trace. */
function exitWith(problems: readonly string[]): never {
  process.stderr.write(`syncline: the config cannot be deployed:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}

// The account and region the CDK CLI targets (from the profile): what config checks compare ARNs against.
const app = new App({ context: { [DEPLOY_ENV_CONTEXT]: { region: process.env.CDK_DEFAULT_REGION, account: process.env.CDK_DEFAULT_ACCOUNT } } });
const config = configOrExit(app);
let stack: SyncStack;
try {
  stack = new SyncStack(app, config.stackName, {
    config,
    description: `syncline: ${config.flows.length} data-sync flow(s)`,
  });
} catch (err) {
  if (err instanceof SynthProblem) exitWith([err.message]);
  throw err;
}
applyNagAcknowledgements(stack);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
let directory: string;
try {
  directory = app.synth().directory;
} catch (err) {
  // Construct validations (resource and API limits, environment sizes) fail synth as one error listing each
  // problem as "[path] message": those are the config's problems, printed as such.
  const [first, ...lines] = String((err as Error).message).split('\n');
  if (!first?.startsWith('Validation failed with the following errors')) throw err;
  exitWith(lines.map((l) => l.trim().replace(/^\[[^\]]*\]\s*/, '')).filter((l) => l !== ''));
}
const sizes = templateSizeProblems(directory);
if (sizes.length) exitWith(sizes);

import { ConfigError, formatIssue, loadConfig } from '../config/load';
import { validateFlowsDeep } from '../config/deep-validate';
import { UnsupportedError, unsupportedTypes } from '../../functions/plan/plan';
import { readCdkContext } from '../config/cdk-context';
import { EXIT, parse, type Command } from './command';

export const validateCommand: Command = {
  summary: 'check a flows config (cdk.json context or --config file)',
  usage: 'usage: syncline validate [--config <file.json|yaml>] [--json]',
  async run({ args, out, err }) {
    const { values } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } }, false);
    const problems: string[] = [];
    try {
      const config = values.config ? loadConfig({ file: values.config }) : loadConfig(readCdkContext());
      problems.push(...unsupportedTypes(config), ...validateFlowsDeep(config));
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.issues.map((i) => formatIssue(i).trim()));
      else if (e instanceof UnsupportedError) problems.push(...e.problems);
      else throw e;
    }
    if (values.json) out(JSON.stringify({ ok: problems.length === 0, errors: problems }));
    else if (problems.length === 0) out('ok');
    else for (const p of problems) err(p);
    return problems.length === 0 ? EXIT.ok : EXIT.failure;
  },
};

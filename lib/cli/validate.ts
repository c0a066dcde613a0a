import { checkConfig } from '../config/check';
import { readCdkContext } from '../config/cdk-context';
import { EXIT, parse, type Command } from './command';

export const validateCommand: Command = {
  summary: 'check a flows config (cdk.json context or --config file)',
  usage: 'usage: syncline validate [--config <file.json|yaml>] [--json]',
  async run({ args, out, err }) {
    const { values } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } }, false);
    const check = checkConfig(values.config ? { file: values.config } : readCdkContext());
    const problems = check.ok ? [] : check.problems;
    const origin = check.ok ? undefined : check.origin;
    if (values.json) out(JSON.stringify({ ok: problems.length === 0, errors: problems, ...(origin ? { origin } : {}) }));
    else if (problems.length === 0) out('ok');
    else {
      if (origin) err(`invalid config (${origin}):`);
      for (const p of problems) err(p);
    }
    return problems.length === 0 ? EXIT.ok : EXIT.failure;
  },
};

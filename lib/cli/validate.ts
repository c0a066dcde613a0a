import { checkConfig } from '../config/check';
import { readCdkContext } from '../config/cdk-context';
import { EXIT, parse, UsageError, type Command } from './command';

export const validateCommand: Command = {
  summary: 'check a flows config (cdk.json context or --config file)',
  usage: 'usage: syncline validate [--config <file.json|yaml> | -c syncline:config=<file>] [--json]',
  async run({ args, out, err }) {
    // `-c syncline:config=<file>` as cdk takes it (the message for a missing config names that form).
    const given = args.map((a) => (a === '-c' ? '--context' : a));
    const { values } = parse(given, { config: { type: 'string' }, context: { type: 'string', multiple: true }, json: { type: 'boolean' } }, false);
    const [context, ...more] = values.context ?? [];
    if (more.length > 0) throw new UsageError('give -c syncline:config=<file> once');
    if (context !== undefined && !context.startsWith('syncline:config=')) throw new UsageError(`-c takes syncline:config=<file> here, not "${context}"`);
    const fromContext = context?.slice('syncline:config='.length);
    if (fromContext === '') throw new UsageError('-c syncline:config= needs a file');
    if (values.config !== undefined && fromContext !== undefined) throw new UsageError('give --config or -c syncline:config=, not both');
    const file = values.config ?? fromContext;
    const check = checkConfig(file ? { file } : readCdkContext());
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

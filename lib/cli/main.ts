import { EXIT, fail, UsageError, type Command } from './command';
import { messageOf } from '../../functions/core/errors';
import { targetOptions } from './target';

/** Every command, loaded when it runs: `syncline validate` does not load the AWS SDK. */
const commands: Readonly<Record<string, () => Promise<Command>>> = {
  validate: async () => (await import('./validate')).validateCommand,
  dev: async () => (await import('./dev')).devCommand,
  sign: async () => (await import('./sign')).signCommand,
  lineage: async () => (await import('./admin-commands')).lineageCommand,
  conflicts: async () => (await import('./admin-commands')).conflictsCommand,
  quarantine: async () => (await import('./admin-commands')).quarantineCommand,
  backfill: async () => (await import('./backfill')).backfillCommand,
  redrive: async () => (await import('./admin-commands')).redriveCommand,
  status: async () => (await import('./admin-commands')).statusCommand,
  pull: async () => (await import('./pull')).pullCommand,
  try: async () => (await import('./try')).tryCommand,
  replay: async () => (await import('./replay')).replayCommand,
};

async function help(out: (line: string) => void): Promise<void> {
  out('usage: syncline <command> [options]\n\ncommands:');
  for (const [name, load] of Object.entries(commands)) out(`  ${name.padEnd(12)} ${(await load()).summary}`);
  out('\nCommands that talk to syncline run against the local runtime (--url URL, env SYNCLINE_URL, default');
  out('http://127.0.0.1:3000) or a deployed stack (--stack NAME [--region REGION] [--profile NAME]: its outputs are');
  out('read with the AWS SDK, and its admin API is called with IAM-signed requests). --json prints machine-readable output.');
  out('Exit codes: 0 ok, 1 failure, 2 usage.');
  out('\nRun "syncline <command> --help" (or "syncline help <command>") for a command\'s options; "syncline --version" for the version.');
}

/** How many leading arguments are target options (targetOptions, with their values). */
function leadingTargetOptions(argv: readonly string[]): number {
  let i = 0;
  while (i < argv.length) {
    const name = argv[i]!.startsWith('--') ? argv[i]!.slice(2) : '';
    if (!Object.hasOwn(targetOptions, name)) break;
    i += targetOptions[name as keyof typeof targetOptions].type === 'string' ? 2 : 1;
  }
  return i;
}

/** The package's version, from the package.json beside lib/. */
async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `syncline ${pkg.version}`;
}

export async function main(argv: string[], io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) }): Promise<number> {
  const [name, ...args] = argv;
  if (name === 'help' && args[0] !== undefined && !args[0].startsWith('-')) return main([args[0], '--help', ...args.slice(1)], io);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await help(io.out);
    return name ? EXIT.ok : EXIT.usage;
  }
  // Target options before the command (`syncline --url http://... lineage f k`) are taken as the command's own.
  const at = leadingTargetOptions(argv);
  if (at > 0 && at < argv.length && Object.hasOwn(commands, argv[at]!)) return main([argv[at]!, ...argv.slice(0, at), ...argv.slice(at + 1)], io);
  if (name === '--version' || name === '-v') {
    io.out(await version());
    return EXIT.ok;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    if (args.includes('--json')) io.out(JSON.stringify({ error: `unknown command "${name}"`, exitCode: EXIT.usage }));
    io.err(`syncline: unknown command "${name}"`);
    await help(io.err);
    return EXIT.usage;
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    io.out(command.usage);
    return EXIT.ok;
  }
  const ctx = { args, ...io };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) return fail(ctx, err.message, EXIT.usage, `syncline ${name}: ${err.message}\n${command.usage}`);
    return fail(ctx, messageOf(err), EXIT.failure, `syncline ${name}: ${messageOf(err)}`);
  }
}

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { validateCommand } from './validate';

/** Exit codes of every command: 0 ok, 1 failure, 2 usage. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class UsageError extends Error {}

export interface CommandContext {
  readonly args: string[];
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface Command {
  readonly summary: string;
  readonly usage: string;
  run(ctx: CommandContext): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  validate: async () => validateCommand,
};

/** Registers a command; keeps this file free of every command's imports. */
export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function help(out: (line: string) => void): Promise<void> {
  out('usage: syncline <command> [options]\n\ncommands:');
  for (const [name, load] of Object.entries(commands)) out(`  ${name.padEnd(12)} ${(await load()).summary}`);
  out('\nCommands that talk to syncline run against the local runtime (--url URL, env SYNCLINE_URL, default');
  out('http://127.0.0.1:3000) or a deployed stack (--stack NAME [--region REGION] [--profile NAME]: its outputs are');
  out('read with the AWS SDK, and its admin API is called with IAM-signed requests). --json prints machine-readable output.');
  out('Exit codes: 0 ok, 1 failure, 2 usage.');
  out('\nRun "syncline <command> --help" for a command\'s options.');
}

export async function main(argv: string[], io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) }): Promise<number> {
  await import('./commands');
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await help(io.out);
    return name ? EXIT.ok : EXIT.usage;
  }
  const load = commands[name];
  if (!load) {
    io.err(`syncline: unknown command "${name}"`);
    await help(io.err);
    return EXIT.usage;
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    io.out(command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run({ args, ...io });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`syncline ${name}: ${err.message}\n${command.usage}`);
      return EXIT.usage;
    }
    io.err(`syncline ${name}: ${(err as Error).message}`);
    return EXIT.failure;
  }
}

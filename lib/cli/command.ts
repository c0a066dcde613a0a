import { parseArgs, type ParseArgsConfig } from 'node:util';
import { messageOf, SynclineError } from '../../functions/core/errors';

/* What every CLI command shares: its shape, exit codes, usage errors and option parsing. */

/** Exit codes of every command: 0 ok, 1 failure, 2 usage. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class UsageError extends SynclineError {
  override readonly name = 'UsageError';
}

export interface CommandContext {
  readonly args: string[];
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/**
 * Reports a command's failure: the message on stderr, and with `--json` also `{"error", "exitCode"}` on stdout, so a
 * script reading stdout sees failures too. Answers the exit code.
 */
export function fail(ctx: CommandContext, message: string, exitCode: number = EXIT.failure, stderr = message): number {
  if (ctx.args.includes('--json')) ctx.out(JSON.stringify({ error: message, exitCode }));
  ctx.err(stderr);
  return exitCode;
}

export interface Command {
  readonly summary: string;
  readonly usage: string;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * Parses a command's arguments. Every option is long (`--name`), so an argument starting with a single "-" is a
 * positional (a conflict id such as `-Ux3…`: ids are base64url), and a string option's value may start with "-"
 * (`--value -1`): node's parseArgs would refuse both. An unknown `--name` is still a usage error.
 */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  const held = new Map<string, string>();
  const hold = (arg: string) => {
    const token = `\u0000${held.size}`;
    held.set(token, arg);
    return token;
  };
  const known = (arg: string) => Object.hasOwn(options, arg.slice(2).split('=')[0]!);
  let valueNext = false;
  const safe = args.map((arg, i) => {
    const isValue = valueNext;
    valueNext = !isValue && arg.startsWith('--') && !arg.includes('=') && known(arg) && options[arg.slice(2)]!.type === 'string';
    if (args.slice(0, i).includes('--') || !arg.startsWith('-') || arg === '--') return arg;
    return isValue || !arg.startsWith('--') ? hold(arg) : arg;
  });
  let parsed;
  try {
    parsed = parseArgs({ args: safe, options, allowPositionals, strict: true });
  } catch (err) {
    // The message names the argument as given, not the placeholder that stood in for it.
    throw new UsageError(messageOf(err).replace(/\u0000\d+/g, (token) => held.get(token) ?? token));
  }
  const restore = (v: unknown): unknown => (typeof v === 'string' ? (held.get(v) ?? v) : Array.isArray(v) ? v.map(restore) : v);
  const values = Object.fromEntries(Object.entries(parsed.values).map(([k, v]) => [k, restore(v)])) as typeof parsed.values;
  return { ...parsed, values, positionals: parsed.positionals.map((p) => held.get(p) ?? p) };
}

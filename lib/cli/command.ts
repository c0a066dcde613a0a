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

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(messageOf(err));
  }
}

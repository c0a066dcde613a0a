import { RETENTION_NOTE, type ReplayAnswer } from '../../functions/handlers/record-replay';
import { runAdmin } from './admin-commands';
import { AdminError } from './admin-client';
import { EXIT, fail, parse, UsageError, type Command } from './command';
import { createProgress, type Progress } from './progress';
import { TARGET_USAGE, targetOptions, type SynclineTarget } from './target';
import { SynclineError } from '../../functions/core/errors';
import { startsWithCalendarDate } from '../../functions/core/shape';

/** Keys per request when they are given. */
export const REPLAY_KEY_CHUNK = 100;
/** Width of one time window per request: one hour bucket of the audit trail's time index. */
const HOUR = 3_600_000;

export interface ReplayRequest {
  readonly keys?: readonly string[];
  readonly since?: number;
  readonly until?: number;
  readonly targets?: readonly string[];
  readonly dryRun: boolean;
  readonly by?: string;
}

export interface ReplayResult {
  readonly flow: string;
  readonly dryRun: boolean;
  readonly targets: readonly string[];
  readonly keys: string[];
  readonly notFound: string[];
  readonly selection: 'keys' | 'audit-time-index';
  readonly notes: string[];
  readonly by?: string;
}

/** Raised when a replay stops part way: says where to run it again from. */
export class ReplayInterrupted extends SynclineError {
  /** The admin API's status when it answered with an error (a 400 or 404: running it again changes nothing). */
  readonly status?: number;
  constructor(readonly done: ReplayResult, readonly resumeSince: number | undefined, cause: Error) {
    super(cause.message);
    this.name = 'ReplayInterrupted';
    if (cause instanceof AdminError && cause.status !== undefined) this.status = cause.status;
  }
}

/**
 * Replays in chunks: given keys 100 per request; a time window one hour per request, each hour paged by key.
 * A chunk replays again when run again, so an interrupted replay is simply run again (from the hour it reached).
 */
export async function replayInChunks(target: SynclineTarget, flowId: string, req: ReplayRequest, progress: Progress): Promise<ReplayResult> {
  const path = `/flows/${encodeURIComponent(flowId)}/replay`;
  const common = { ...(req.targets ? { targets: req.targets } : {}), dryRun: req.dryRun, ...(req.by ? { by: req.by } : {}) };
  const result = { flow: flowId, dryRun: req.dryRun, targets: [] as readonly string[], keys: [] as string[], notFound: [] as string[], selection: (req.keys ? 'keys' : 'audit-time-index') as ReplayResult['selection'], notes: [] as string[], by: undefined as string | undefined };
  const take = (a: ReplayAnswer) => {
    result.targets = a.targets;
    result.keys.push(...a.keys);
    result.notFound.push(...a.notFound);
    // One retention note: its cut-off moves on with each request's clock.
    for (const n of a.notes) if (!result.notes.some((x) => x === n || (x.startsWith(RETENTION_NOTE) && n.startsWith(RETENTION_NOTE)))) result.notes.push(n);
    result.by ??= a.by;
  };
  const clean = (): ReplayResult => {
    const { by, ...rest } = result;
    return by ? { ...rest, by } : rest;
  };
  if (req.keys) {
    const keys = [...new Set(req.keys)];
    for (let i = 0; i < keys.length; i += REPLAY_KEY_CHUNK) {
      try {
        take((await target.post(path, { ...common, keys: keys.slice(i, i + REPLAY_KEY_CHUNK) })) as ReplayAnswer);
      } catch (err) {
        throw new ReplayInterrupted(clean(), undefined, err as Error);
      }
      progress.update(Math.min(i + REPLAY_KEY_CHUNK, keys.length), keys.length);
    }
    return clean();
  }
  const since = req.since!;
  const until = req.until!;
  const windows = Math.max(1, Math.ceil((until - since + 1) / HOUR));
  for (let w = 0; w < windows; w++) {
    const from = since + w * HOUR;
    const to = Math.min(from + HOUR - 1, until);
    let after: string | undefined;
    let retainedSince: number | undefined;
    try {
      do {
        const answer = (await target.post(path, { ...common, since: from, until: to, ...(after !== undefined ? { after } : {}) })) as ReplayAnswer;
        take(answer);
        after = answer.next;
        retainedSince = answer.retainedSince;
        progress.update(w, windows, `${result.keys.length} keys`);
      } while (after !== undefined);
    } catch (err) {
      throw new ReplayInterrupted(clean(), from, err as Error);
    }
    // Skip the windows that end before what the audit retention still holds: they select nothing.
    if (retainedSince !== undefined && retainedSince > to + 1) w = Math.max(w, Math.floor((retainedSince - since) / HOUR) - 1);
    progress.update(w + 1, windows, `${result.keys.length} keys`);
  }
  return clean();
}

function parseTime(flag: string, value: string): number {
  const ms = startsWithCalendarDate(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`${flag} must be an ISO-8601 time such as 2026-01-31T09:00:00Z, got "${value}"`);
  return ms;
}

export const replayCommand: Command = {
  summary: "deliver the current state of chosen keys again to a flow's targets (by key or by last change time)",
  usage: [
    'usage: syncline replay <flow> (--key <key> [--key <key> ...] | --since <ISO time> [--until <ISO time>])',
    '                        [--target <id> ...] [--dry-run] [--by NAME] [target options] [--json]',
    '  --key      a record key (the key fields\' values joined by "#"); repeat for more',
    '  --since    keys whose last change is at or after this time (from the audit trail\'s time index, no table scan)',
    '  --until    ... and at or before this time (default: now)',
    '  --target   only this target (repeat for more; default: every target of the flow)',
    '  --dry-run  list the keys that would be replayed; send nothing',
    '  --by       who asks, recorded in each key\'s `replayed` lineage entry (in AWS, added to your IAM identity)',
    '  Targets get the current state even where they already have that version. An interrupted replay can be run',
    '  again: the CLI prints the --since to continue from.',
    TARGET_USAGE,
  ].join('\n'),
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, {
      ...targetOptions,
      key: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      target: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      by: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('give one flow id');
    const [flow] = positionals as [string];
    const keys = values.key ?? [];
    if (keys.length > 0 && values.since !== undefined) throw new UsageError('give --key or --since, not both');
    if (keys.length === 0 && values.since === undefined) throw new UsageError('give --key <key> (one or more) or --since <ISO time>');
    if (values.until !== undefined && values.since === undefined) throw new UsageError('--until goes with --since');
    if (keys.some((k) => k === '')) throw new UsageError('--key must not be empty');
    if ((values.target ?? []).some((t) => t.trim() === '')) throw new UsageError('--target must name a target');
    if (values.by !== undefined && values.by.trim() === '') throw new UsageError('--by must not be empty');
    const since = values.since !== undefined ? parseTime('--since', values.since) : undefined;
    const until = values.until !== undefined ? parseTime('--until', values.until) : since !== undefined ? Date.now() : undefined;
    if (since !== undefined && until! < since) throw new UsageError(values.until === undefined ? '--since is in the future' : '--until is before --since');
    const dryRun = values['dry-run'] === true;
    const request: ReplayRequest = {
      ...(keys.length > 0 ? { keys } : { since, until }),
      ...(values.target ? { targets: values.target } : {}),
      dryRun,
      ...(values.by ? { by: values.by } : {}),
    };
    return runAdmin(ctx, values, async (target) => {
      const progress = createProgress({ title: `replay ${flow}`, json: values.json });
      let result: ReplayResult;
      try {
        result = await replayInChunks(target, flow, request, progress).finally(() => progress.stop());
      } catch (err) {
        if (!(err instanceof ReplayInterrupted)) throw err;
        // Refused before anything was sent (an unknown target, an audit level that keeps no index): nothing to resume.
        if (err.done.keys.length === 0 && (err.status === 400 || err.status === 404)) {
          return fail(ctx, `replay of ${flow} refused: ${err.message}`, err.status === 400 ? EXIT.usage : EXIT.failure);
        }
        const resume = err.resumeSince !== undefined ? `; run it again with --since ${new Date(err.resumeSince).toISOString()} to continue` : '; run it again (replaying a key twice is harmless)';
        return fail(ctx, `replay of ${flow} stopped after ${err.done.keys.length} key(s): ${err.message}${resume}`);
      }
      if (values.json) ctx.out(JSON.stringify(result));
      else {
        const how = result.selection === 'keys' ? 'by key' : "by last change time, from the audit trail's time index (no scan of the state table)";
        const to = `to ${result.targets.join(', ') || 'no target'}`;
        if (dryRun) {
          ctx.out(`dry run: ${result.keys.length} key(s) of ${flow} would be replayed ${to}, selected ${how}:`);
          for (const k of result.keys) ctx.out(`  ${k}`);
        } else ctx.out(`${result.keys.length} key(s) of ${flow} replayed ${to} (selected ${how}), asked by ${result.by ?? 'local'}`);
        if (result.notFound.length > 0) ctx.out(`no state for: ${result.notFound.join(', ')}`);
        for (const n of result.notes) ctx.out(`note: ${n}`);
      }
      return result.notFound.length > 0 ? EXIT.failure : EXIT.ok;
    });
  },
};

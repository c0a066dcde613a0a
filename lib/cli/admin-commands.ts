import type { AuditEntry, QuarantineItem } from '../../functions/ports';
import { LISTING_PAGE } from '../../functions/handlers/admin-api';
import { AdminError } from './admin-client';
import { EXIT, fail, parse, UsageError, type Command, type CommandContext } from './command';
import { createProgress } from './progress';
import { replayInChunks } from './replay-chunks';
import { resolveTarget, TARGET_USAGE, targetOptions, type SynclineTarget, type TargetFlags } from './target';
import { messageOf } from '../../functions/core/errors';

const common = targetOptions;
const enc = encodeURIComponent;
const iso = (ms: unknown) => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms ?? ''));
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A lag for a person: ms under a second, then seconds, minutes, hours and days (`--json` keeps the ms). */
export function lagText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  // Past what rounds to a minute, whole seconds (59.96 s is 1m 0s).
  ms = Math.max(60_000, Math.round(ms / 1000) * 1000);
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  const at = units.findIndex(([size]) => ms >= size);
  const [big, bigUnit] = units[at]!;
  const [small, smallUnit] = units[at + 1]!;
  return `${Math.floor(ms / big)}${bigUnit} ${Math.floor((ms % big) / small)}${smallUnit}`;
}

/**
 * Runs a command's work against the target that `--url` / `--stack` name; a failure is one line on stderr and
 * exit 1, and the work may answer its own exit code.
 */
export async function runAdmin(ctx: CommandContext, flags: TargetFlags, work: (target: SynclineTarget) => Promise<number | void>): Promise<number> {
  try {
    return (await work(await resolveTarget(flags))) ?? EXIT.ok;
  } catch (err) {
    // A 400 is the API refusing what the command line asked (a bad --limit, --after, --step...): a usage error.
    if (err instanceof AdminError) return fail(ctx, err.message, err.status === 400 ? EXIT.usage : EXIT.failure);
    // An answer of another shape than the admin API's (a command read a field it lacks): another server answered.
    if (err instanceof TypeError) return fail(ctx, `unexpected answer (${err.message}): is the address a syncline runtime or stack?`);
    throw err;
  }
}

export const lineageCommand: Command = {
  summary: 'show why a record looks the way it does (its audit entries, oldest first)',
  usage: `usage: syncline lineage <flow> <key> [target options] [--json]\n  key: the key fields' values joined by "#"\n${TARGET_USAGE}`,
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, common);
    if (positionals.length !== 2) throw new UsageError('give a flow id and a record key');
    const [flow, key] = positionals as [string, string];
    // A URL resolves such a segment (encoded too), so the request would name another path; the transform quarantines such keys.
    if (key === '.' || key === '..') return fail(ctx, `no record has the key "${key}": a key no URL path can name is quarantined by the transform`);
    return runAdmin(ctx, values, async (target) => {
      const entries = (await target.get(`/flows/${enc(flow)}/records/${enc(key)}/lineage`)) as AuditEntry[];
      // A key with no entries is unknown to the flow (or its entries passed audit.retentionDays): a failure, as a 404 is.
      if (entries.length === 0) return fail(ctx, `no audit entries for ${flow}/${key}: no record has that key, or its entries are older than audit.retentionDays`);
      if (values.json) return ctx.out(JSON.stringify(entries));
      for (const e of entries) {
        const parts = [iso(e.at), e.step.padEnd(9), e.outcome.padEnd(11), `source=${e.source}`, `event=${e.eventId}`];
        if (e.version !== undefined) parts.push(`v${e.version}`);
        if (e.target) parts.push(`target=${e.target}`);
        if (e.reason) parts.push(`(${e.reason})`);
        ctx.out(parts.join('  '));
      }
    });
  },
};

interface ConflictView {
  id: string;
  key: string;
  field: string;
  status?: string;
  openedAt?: number;
  resolvedAt?: number;
  resolvedBy?: string;
  current: { value: unknown; source: string };
  incoming: { value: unknown; source: string };
  /** Why the values are missing: the listing holds at most 4 MB of them. */
  omitted?: string;
}

/** A value as one POSIX shell word (single quotes, a quote inside written '\''). */
const shellQuoted = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;

export const conflictsCommand: Command = {
  summary: 'list and resolve conflicts of a flow (manual review)',
  usage:
    'usage: syncline conflicts list <flow> [--status open|resolved|superseded|all] [--limit N] [--after <openedAt>:<id>] [target options] [--json]\n' +
    "       syncline conflicts resolve <flow> <conflictId> (--choose current|incoming | --value '<json>') [--by NAME] [target options] [--json]\n" +
    '  list shows the oldest first, 100 by default (--limit up to 1000); a full page ends with the --after that\n' +
    '  lists the next one.\n' +
    TARGET_USAGE,
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...common, status: { type: 'string' }, choose: { type: 'string' }, value: { type: 'string' }, by: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' } });
    const [sub, flow, ...rest] = positionals;
    if (sub === 'resolve') {
      if (values.limit !== undefined || values.after !== undefined) throw new UsageError('--limit and --after belong to `conflicts list`');
      return resolveConflict(ctx, values, flow, rest);
    }
    if (sub !== 'list') throw new UsageError(sub ? `unknown subcommand "${sub}" (available: list, resolve)` : 'give a subcommand: list or resolve');
    if (!flow || rest.length) throw new UsageError('give one flow id');
    if (values.choose !== undefined || values.value !== undefined || values.by !== undefined) throw new UsageError('--choose, --value and --by belong to `conflicts resolve`');
    if (values.status !== undefined && !['open', 'resolved', 'superseded', 'all'].includes(values.status)) throw new UsageError('--status must be open, resolved, superseded or all');
    return runAdmin(ctx, values, async (target) => {
      const params = { status: values.status, limit: values.limit, after: values.after };
      const query = Object.entries(params).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${enc(v)}`])).join('&');
      const conflicts = (await target.get(`/flows/${enc(flow)}/conflicts${query ? `?${query}` : ''}`)) as ConflictView[];
      if (values.json) return ctx.out(JSON.stringify(conflicts));
      if (conflicts.length === 0) return ctx.out(`no ${values.status && values.status !== 'all' ? `${values.status} ` : ''}conflicts in ${flow}`);
      for (const c of conflicts) {
        ctx.out(
          `${c.id}  key=${c.key}  field=${c.field}${c.status ? `  ${c.status}` : ''}${c.openedAt ? `  opened ${iso(c.openedAt)}` : ''}` +
            `${c.resolvedBy ? `  resolved by ${c.resolvedBy}${c.resolvedAt ? ` ${iso(c.resolvedAt)}` : ''}` : ''}\n` +
            (c.omitted
              ? `    current from ${c.current.source}, incoming from ${c.incoming.source} (${c.omitted})`
              : `    current  ${JSON.stringify(c.current.value)} from ${c.current.source}\n` + `    incoming ${JSON.stringify(c.incoming.value)} from ${c.incoming.source}`),
        );
      }
      const last = conflicts.at(-1)!;
      if (conflicts.length === Number(values.limit ?? LISTING_PAGE.default) && last.openedAt !== undefined) ctx.out(`more may follow: syncline conflicts list ${flow}${values.status ? ` --status ${values.status}` : ''} --after ${shellQuoted(`${last.openedAt}:${last.id}`)}`);
    });
  },
};

/** `conflicts resolve <flow> <conflictId> (--choose current|incoming | --value JSON) [--by NAME]`. */
async function resolveConflict(
  ctx: CommandContext,
  values: { url?: string; json?: boolean; stack?: string; status?: string; choose?: string; value?: string; by?: string },
  flow: string | undefined,
  rest: string[],
): Promise<number> {
  if (!flow || rest.length !== 1) throw new UsageError('give a flow id and a conflict id');
  const [conflictId] = rest as [string];
  if ((values.choose === undefined) === (values.value === undefined)) throw new UsageError("give exactly one of --choose current|incoming and --value '<json>'");
  if (values.status !== undefined) throw new UsageError('--status belongs to `conflicts list`');
  let body: Record<string, unknown>;
  if (values.choose !== undefined) {
    if (values.choose !== 'current' && values.choose !== 'incoming') throw new UsageError('--choose must be current or incoming');
    body = { choose: values.choose };
  } else {
    try {
      body = { value: JSON.parse(values.value!) };
    } catch (err) {
      throw new UsageError(`--value must be JSON (quote strings: --value '"x"'): ${messageOf(err)}`);
    }
  }
  if (values.by !== undefined) {
    if (values.by.trim() === '') throw new UsageError('--by must not be empty');
    body.by = values.by;
  }
  return runAdmin(ctx, values, async (target) => {
    const result = (await target.post(`/flows/${enc(flow)}/conflicts/${enc(conflictId)}/resolve`, body)) as { conflict: ConflictView; changeId: string };
    if (values.json) return ctx.out(JSON.stringify(result));
    const c = result.conflict;
    ctx.out(`resolved ${c.id} (key=${c.key} field=${c.field}) by ${c.resolvedBy ?? 'local'}: change ${result.changeId} queued for delivery`);
  });
}

export const quarantineCommand: Command = {
  summary: 'list quarantined records of a flow (masked) and why, or replay them through the current transform',
  usage:
    'usage: syncline quarantine list <flow> [--limit N] [--before <at>:<id>] [target options] [--json]\n' +
    '  list shows the newest records first, 100 by default (--limit up to 1000); a full page ends with the\n' +
    '  --before that lists the next, older page.\n' +
    '       syncline quarantine replay <flow> (--id ID [--id ID ...] | --all) [target options] [--json]\n' +
    '  replay re-sends quarantined records to the flow\'s transform, so the config running now decides again\n' +
    '  (fix the config and restart first). The stored record is masked: masked fields arrive masked.\n' +
    '  A record the transform still rejects is quarantined again. A change resolve set aside (its record too\n' +
    '  large for its state) goes back to resolve, while the transform that made it is unchanged.\n' +
    '  Exit 1 when a record could not be re-sent.\n' +
    TARGET_USAGE,
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...common, id: { type: 'string', multiple: true }, all: { type: 'boolean' }, limit: { type: 'string' }, before: { type: 'string' } });
    const [sub, flow, ...rest] = positionals;
    if (sub !== 'list' && sub !== 'replay') throw new UsageError(sub ? `unknown subcommand "${sub}" (available: list, replay)` : 'give a subcommand: list or replay');
    if (!flow || rest.length) throw new UsageError('give one flow id');
    if (sub === 'replay') {
      if (values.limit !== undefined || values.before !== undefined) throw new UsageError('--limit and --before belong to `quarantine list`');
      return replayQuarantine(ctx, values, flow);
    }
    if (values.id !== undefined || values.all !== undefined) throw new UsageError('--id and --all belong to `quarantine replay`');
    const query = [values.limit !== undefined ? `limit=${enc(values.limit)}` : '', values.before !== undefined ? `before=${enc(values.before)}` : ''].filter(Boolean).join('&');
    return runAdmin(ctx, values, async (target) => {
      const items = (await target.get(`/flows/${enc(flow)}/quarantine${query ? `?${query}` : ''}`)) as QuarantineItem[];
      if (values.json) return ctx.out(JSON.stringify(items));
      if (items.length === 0) return ctx.out(values.before === undefined ? `nothing quarantined in ${flow}` : `nothing quarantined in ${flow} before ${values.before}`);
      for (const q of items) {
        ctx.out(`${iso(q.at)}  ${q.id}  source=${q.source}${q.envelope?.key ? `  key=${q.envelope.key}` : ''}${q.position ? `  at ${q.position}` : ''}  ${q.reason}`);
        for (const e of q.errors) if (e !== q.reason) ctx.out(`    - ${e}`);
        ctx.out(`    record: ${q.dropped ?? q.omitted ?? JSON.stringify(q.record)}`);
      }
      const last = items.at(-1)!;
      if (items.length === Number(values.limit ?? LISTING_PAGE.default)) ctx.out(`older records may follow: syncline quarantine list ${flow} --before ${shellQuoted(`${last.at}:${last.id}`)}`);
    });
  },
};

/** `quarantine replay <flow> (--id ID ... | --all)`: in chunks, with a progress bar. */
async function replayQuarantine(ctx: CommandContext, values: TargetFlags & { json?: boolean; id?: string[]; all?: boolean }, flow: string): Promise<number> {
  const ids = values.id ?? [];
  if ((ids.length > 0) === (values.all === true)) throw new UsageError('give --id ID (one or more) or --all');
  if (ids.some((i) => i.trim() === '')) throw new UsageError('--id must not be empty');
  return runAdmin(ctx, values, async (target) => {
    const progress = createProgress({ title: `replay ${flow}`, json: values.json });
    const result = await replayInChunks(target, flow, values.all ? { all: true } : { ids }, progress).finally(() => progress.stop());
    if (values.json) ctx.out(JSON.stringify(result));
    else {
      ctx.out(`${plural(result.replayed, 'record')} of ${flow} re-sent (to the transform; changes resolve set aside, to resolve; masked fields stay masked)`);
      if (result.failed > 0) ctx.out(`${result.failed} could not be sent and stay quarantined: ${result.ids.failed.join(', ')}`);
      if (result.skipped) ctx.out(`${result.skipped} skipped (quarantined at capture, not a change envelope, dropped, or set aside by resolve under another transform, key or strategy: their source must send them again): ${result.ids.skipped.join(', ')}`);
      if (result.notFound.length) ctx.out(`not quarantined: ${result.notFound.join(', ')}`);
    }
    // An asked id that is not quarantined could not be sent either.
    return result.failed > 0 || result.notFound.length > 0 ? EXIT.failure : EXIT.ok;
  });
}

interface QueueDepthView {
  visible: number;
  inFlight: number;
  total: number;
}

interface FlowStatusView {
  flow: string;
  at: number;
  queues: { id: string; name: string; depth: QueueDepthView; dlq?: QueueDepthView }[];
  outcomes: Record<string, number>;
  /** `from` and `p99Ms` come from runtimes that measure from the source timestamp. */
  lag?: { latestMs: number; p50Ms: number; p99Ms?: number; maxMs: number; samples: number; from?: 'source' | 'capture' | 'mixed' };
  undeclaredPii?: { field: string; records: number }[];
}

const OUTCOME_ORDER = ['captured', 'duplicate', 'filtered', 'quarantined', 'won', 'superseded', 'conflict', 'delivered', 'skipped', 'failed', 'echo', 'replayed'];

function printStatus(ctx: CommandContext, s: FlowStatusView): void {
  ctx.out(`flow ${s.flow}  (${iso(s.at)})`);
  const rows = [['queue', 'depth', 'in flight', 'dlq'], ...s.queues.map((q) => [q.id, String(q.depth.visible), String(q.depth.inFlight), q.dlq ? String(q.dlq.total) : '-'])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) ctx.out(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}${r !== rows[0] && r[3] !== '-' && r[3] !== '0' ? '  <- DLQ not empty' : ''}`);
  const outcomes = Object.entries(s.outcomes).sort(([a], [b]) => (OUTCOME_ORDER.indexOf(a) + 1 || 99) - (OUTCOME_ORDER.indexOf(b) + 1 || 99));
  ctx.out(`  last hour: ${outcomes.length ? outcomes.map(([o, n]) => `${o}=${n}`).join('  ') : 'no audit entries'}`);
  const from = { source: 'source timestamp', capture: 'capture', mixed: 'source timestamp or capture' }[s.lag?.from ?? 'capture'];
  ctx.out(
    s.lag
      ? `  lag (${from} to delivery, newest ${s.lag.samples}): latest ${lagText(s.lag.latestMs)}  p50 ${lagText(s.lag.p50Ms)}${s.lag.p99Ms !== undefined ? `  p99 ${lagText(s.lag.p99Ms)}` : ''}  max ${lagText(s.lag.maxMs)}`
      : '  lag: unknown (no measurable delivery in the last hour)',
  );
  if (s.undeclaredPii?.length) {
    ctx.out(`  PII to declare (detectPii flagged these in the last hour's records; the flow's pii does not name them): ${s.undeclaredPii.map((p) => `${p.field} (${plural(p.records, 'record')})`).join(', ')}`);
  }
}

export const statusCommand: Command = {
  summary: "queue and DLQ depths, the last hour's counts per outcome, and delivery lag, per flow",
  usage: `usage: syncline status [flow] [target options] [--json]\n  without a flow: every flow. Lag is measured to delivery from the change's source timestamp, or from capture where the status says so.\n${TARGET_USAGE}`,
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, common);
    if (positionals.length > 1) throw new UsageError('give at most one flow id');
    const [flow] = positionals;
    return runAdmin(ctx, values, async (target) => {
      const flows = flow ? [flow] : ((await target.get('/flows')) as { id: string }[]).map((f) => f.id);
      const all = await Promise.all(flows.map(async (id) => (await target.get(`/flows/${enc(id)}/status`)) as FlowStatusView));
      if (values.json) return ctx.out(JSON.stringify(flow ? all[0] : all));
      all.forEach((s, i) => {
        if (i > 0) ctx.out('');
        printStatus(ctx, s);
      });
    });
  },
};

export const redriveCommand: Command = {
  summary: "move a flow's dead-letter messages back to their queues once the cause is fixed",
  usage: [
    'usage: syncline redrive <flow> [--step <queue id, e.g. deliver-replica>] [target options] [--json]',
    '  --step  only this queue (default: every queue of the flow)',
    '  In AWS: an SQS message move task per DLQ (StartMessageMoveTask), followed until it ends.',
    TARGET_USAGE,
  ].join('\n'),
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...common, step: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give one flow id');
    if (values.step !== undefined && values.step.trim() === '') throw new UsageError('--step must name a queue');
    const [flow] = positionals as [string];
    return runAdmin(ctx, values, async (target) => {
      const progress = createProgress({ title: `redrive ${flow}`, json: values.json });
      const result = (await target.redrive(flow, values.step, progress).finally(() => progress.stop()));
      if (values.json) ctx.out(JSON.stringify(result));
      else {
        for (const queue of result.alreadyRunning ?? []) ctx.out(`${queue}: a move task was already running on its DLQ; followed it`);
        for (const [queue, n] of Object.entries(result.moved)) if (n > 0) ctx.out(`${queue}: moved ${plural(n, 'message')} back from its DLQ`);
        ctx.out(`${plural(result.total, 'message')} moved`);
        for (const [queue, reason] of Object.entries(result.failed ?? {})) ctx.out(`${queue}: NOT finished: ${reason}`);
      }
      return result.failed && Object.keys(result.failed).length > 0 ? EXIT.failure : EXIT.ok;
    });
  },
};

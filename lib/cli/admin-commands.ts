import type { AuditEntry, QuarantineItem } from '../../functions/ports';
import { adminUrl, AdminError, getJson, postJson } from './admin-client';
import { EXIT, parse, UsageError, type Command, type CommandContext } from './main';

const common = { url: { type: 'string' }, json: { type: 'boolean' }, stack: { type: 'string' } } as const;
const enc = encodeURIComponent;
const iso = (ms: unknown) => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms ?? ''));

async function runAdmin(ctx: CommandContext, stack: string | undefined, work: () => Promise<void>): Promise<number> {
  if (stack) {
    ctx.err(`--stack ${stack}: commands against a deployed stack are not available yet; use the local runtime (--url)`);
    return EXIT.failure;
  }
  try {
    await work();
    return EXIT.ok;
  } catch (err) {
    if (err instanceof AdminError) {
      ctx.err(err.message);
      return EXIT.failure;
    }
    throw err;
  }
}

export const lineageCommand: Command = {
  summary: 'show why a record looks the way it does (its audit entries, oldest first)',
  usage: 'usage: syncline lineage <flow> <key> [--url URL] [--json]\n  key: the key fields\' values joined by "#"',
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, common);
    if (positionals.length !== 2) throw new UsageError('give a flow id and a record key');
    const [flow, key] = positionals as [string, string];
    return runAdmin(ctx, values.stack, async () => {
      const entries = (await getJson(adminUrl(values.url), `/flows/${enc(flow)}/records/${enc(key)}/lineage`)) as AuditEntry[];
      if (values.json) return ctx.out(JSON.stringify(entries));
      if (entries.length === 0) return ctx.out(`no audit entries for ${flow}/${key}`);
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
}

export const conflictsCommand: Command = {
  summary: 'list and resolve conflicts of a flow (manual review)',
  usage:
    'usage: syncline conflicts list <flow> [--status open|resolved|all] [--url URL] [--json]\n' +
    "       syncline conflicts resolve <flow> <conflictId> (--choose current|incoming | --value '<json>') [--by NAME] [--url URL] [--json]",
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...common, status: { type: 'string' }, choose: { type: 'string' }, value: { type: 'string' }, by: { type: 'string' } });
    const [sub, flow, ...rest] = positionals;
    if (sub === 'resolve') return resolveConflict(ctx, values, flow, rest);
    if (sub !== 'list') throw new UsageError(sub ? `unknown subcommand "${sub}" (available: list, resolve)` : 'give a subcommand: list or resolve');
    if (!flow || rest.length) throw new UsageError('give one flow id');
    if (values.choose !== undefined || values.value !== undefined || values.by !== undefined) throw new UsageError('--choose, --value and --by belong to `conflicts resolve`');
    if (values.status !== undefined && !['open', 'resolved', 'all'].includes(values.status)) throw new UsageError('--status must be open, resolved or all');
    return runAdmin(ctx, values.stack, async () => {
      const query = values.status ? `?status=${enc(values.status)}` : '';
      const conflicts = (await getJson(adminUrl(values.url), `/flows/${enc(flow)}/conflicts${query}`)) as ConflictView[];
      if (values.json) return ctx.out(JSON.stringify(conflicts));
      if (conflicts.length === 0) return ctx.out(`no ${values.status && values.status !== 'all' ? `${values.status} ` : ''}conflicts in ${flow}`);
      for (const c of conflicts) {
        ctx.out(
          `${c.id}  key=${c.key}  field=${c.field}${c.status ? `  ${c.status}` : ''}${c.openedAt ? `  opened ${iso(c.openedAt)}` : ''}` +
            `${c.resolvedBy ? `  resolved by ${c.resolvedBy}${c.resolvedAt ? ` ${iso(c.resolvedAt)}` : ''}` : ''}\n` +
            `    current  ${JSON.stringify(c.current.value)} from ${c.current.source}\n` +
            `    incoming ${JSON.stringify(c.incoming.value)} from ${c.incoming.source}`,
        );
      }
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
      throw new UsageError(`--value must be JSON (quote strings: --value '"x"'): ${(err as Error).message}`);
    }
  }
  if (values.by !== undefined) {
    if (values.by.trim() === '') throw new UsageError('--by must not be empty');
    body.by = values.by;
  }
  return runAdmin(ctx, values.stack, async () => {
    const result = (await postJson(adminUrl(values.url), `/flows/${enc(flow)}/conflicts/${enc(conflictId)}/resolve`, body)) as { conflict: ConflictView; changeId: string };
    if (values.json) return ctx.out(JSON.stringify(result));
    const c = result.conflict;
    ctx.out(`resolved ${c.id} (key=${c.key} field=${c.field}) by ${c.resolvedBy ?? 'local'}: change ${result.changeId} queued for delivery`);
  });
}

export const quarantineCommand: Command = {
  summary: 'list quarantined records of a flow (masked) and why, or replay them through the current transform',
  usage:
    'usage: syncline quarantine list <flow> [--url URL] [--json]\n' +
    '       syncline quarantine replay <flow> (--id ID [--id ID ...] | --all) [--url URL] [--json]\n' +
    '  replay re-sends quarantined records to the flow\'s transform, so the config running now decides again\n' +
    '  (fix the config and restart first). The stored record is masked: masked fields arrive masked.\n' +
    '  A record the transform still rejects is quarantined again. Exit 1 when a record could not be re-sent.',
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...common, id: { type: 'string', multiple: true }, all: { type: 'boolean' } });
    const [sub, flow, ...rest] = positionals;
    if (sub !== 'list' && sub !== 'replay') throw new UsageError(sub ? `unknown subcommand "${sub}" (available: list, replay)` : 'give a subcommand: list or replay');
    if (!flow || rest.length) throw new UsageError('give one flow id');
    if (sub === 'replay') return replayQuarantine(ctx, values, flow);
    if (values.id !== undefined || values.all !== undefined) throw new UsageError('--id and --all belong to `quarantine replay`');
    return runAdmin(ctx, values.stack, async () => {
      const items = (await getJson(adminUrl(values.url), `/flows/${enc(flow)}/quarantine`)) as QuarantineItem[];
      if (values.json) return ctx.out(JSON.stringify(items));
      if (items.length === 0) return ctx.out(`nothing quarantined in ${flow}`);
      for (const q of items) {
        ctx.out(`${iso(q.at)}  ${q.id}  source=${q.source}${q.position ? `  at ${q.position}` : ''}  ${q.reason}`);
        for (const e of q.errors) ctx.out(`    - ${e}`);
        ctx.out(`    record: ${JSON.stringify(q.record)}`);
      }
    });
  },
};

/** `quarantine replay <flow> (--id ID ... | --all)`. */
async function replayQuarantine(ctx: CommandContext, values: { url?: string; json?: boolean; stack?: string; id?: string[]; all?: boolean }, flow: string): Promise<number> {
  const ids = values.id ?? [];
  if ((ids.length > 0) === (values.all === true)) throw new UsageError('give --id ID (one or more) or --all');
  if (ids.some((i) => i.trim() === '')) throw new UsageError('--id must not be empty');
  let failed = 0;
  const code = await runAdmin(ctx, values.stack, async () => {
    const result = (await postJson(adminUrl(values.url), `/flows/${enc(flow)}/quarantine/replay`, values.all ? { all: true } : { ids })) as {
      replayed: number;
      failed: number;
      skipped?: number;
      notFound?: string[];
      ids?: { failed?: string[]; skipped?: string[] };
    };
    failed = result.failed;
    if (values.json) return ctx.out(JSON.stringify(result));
    ctx.out(`${result.replayed} record${result.replayed === 1 ? '' : 's'} of ${flow} re-sent to the transform (masked fields stay masked)`);
    if (result.failed > 0) ctx.out(`${result.failed} could not be sent and stay quarantined: ${(result.ids?.failed ?? []).join(', ')}`);
    if (result.skipped) ctx.out(`${result.skipped} skipped (not a change envelope, nothing kept to replay): ${(result.ids?.skipped ?? []).join(', ')}`);
    if (result.notFound?.length) ctx.out(`not quarantined: ${result.notFound.join(', ')}`);
  });
  return code === EXIT.ok && failed > 0 ? EXIT.failure : code;
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
  lag?: { latestMs: number; p50Ms: number; maxMs: number; samples: number };
}

const OUTCOME_ORDER = ['captured', 'duplicate', 'filtered', 'quarantined', 'won', 'superseded', 'conflict', 'delivered', 'skipped', 'failed', 'echo'];

function printStatus(ctx: CommandContext, s: FlowStatusView): void {
  ctx.out(`flow ${s.flow}  (${iso(s.at)})`);
  const rows = [['queue', 'depth', 'in flight', 'dlq'], ...s.queues.map((q) => [q.id, String(q.depth.visible), String(q.depth.inFlight), q.dlq ? String(q.dlq.total) : '-'])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) ctx.out(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}${r !== rows[0] && r[3] !== '-' && r[3] !== '0' ? '  <- DLQ not empty' : ''}`);
  const outcomes = Object.entries(s.outcomes).sort(([a], [b]) => (OUTCOME_ORDER.indexOf(a) + 1 || 99) - (OUTCOME_ORDER.indexOf(b) + 1 || 99));
  ctx.out(`  last hour: ${outcomes.length ? outcomes.map(([o, n]) => `${o}=${n}`).join('  ') : 'no audit entries'}`);
  ctx.out(s.lag ? `  lag (capture to delivery, newest ${s.lag.samples}): latest ${s.lag.latestMs} ms  p50 ${s.lag.p50Ms} ms  max ${s.lag.maxMs} ms` : '  lag: unknown (no delivery with a capture entry in the last hour)');
}

export const statusCommand: Command = {
  summary: 'queue and DLQ depths, the last hour\'s counts per outcome, and delivery lag, per flow',
  usage: 'usage: syncline status [flow] [--url URL] [--json]\n  without a flow: every flow. Lag is measured from capture (not the source timestamp) to delivery.',
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, common);
    if (positionals.length > 1) throw new UsageError('give at most one flow id');
    const [flow] = positionals;
    return runAdmin(ctx, values.stack, async () => {
      const result = (await getJson(adminUrl(values.url), flow ? `/flows/${enc(flow)}/status` : '/status')) as FlowStatusView | FlowStatusView[];
      if (values.json) return ctx.out(JSON.stringify(result));
      const all = Array.isArray(result) ? result : [result];
      all.forEach((s, i) => {
        if (i > 0) ctx.out('');
        printStatus(ctx, s);
      });
    });
  },
};

export const redriveCommand: Command = {
  summary: "move a flow's dead-letter messages back to their queues once the cause is fixed",
  usage: 'usage: syncline redrive <flow> [--step <queue id, e.g. deliver-replica>] [--url URL] [--json]',
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...common, step: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give one flow id');
    const [flow] = positionals as [string];
    return runAdmin(ctx, values.stack, async () => {
      const result = (await postJson(adminUrl(values.url), `/flows/${enc(flow)}/redrive`, values.step ? { step: values.step } : undefined)) as {
        moved: Record<string, number>;
        total: number;
      };
      if (values.json) return ctx.out(JSON.stringify(result));
      for (const [queue, n] of Object.entries(result.moved)) if (n > 0) ctx.out(`${queue}: moved ${n} message${n === 1 ? '' : 's'} back from ${queue}-dlq`);
      ctx.out(`${result.total} message${result.total === 1 ? '' : 's'} moved`);
    });
  },
};

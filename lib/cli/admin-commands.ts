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
  summary: 'list quarantined records of a flow (masked) and why',
  usage: 'usage: syncline quarantine list <flow> [--url URL] [--json]',
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, common);
    const [sub, flow, ...rest] = positionals;
    if (sub !== 'list') throw new UsageError(sub ? `unknown subcommand "${sub}" (available: list)` : 'give a subcommand: list');
    if (!flow || rest.length) throw new UsageError('give one flow id');
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

import type { BackfillSummary } from '../local/backfill';
import { adminUrl, AdminError, getJson, postJson } from './admin-client';
import { EXIT, parse, UsageError, type Command } from './main';

const enc = encodeURIComponent;

interface FlowListing {
  readonly id: string;
  readonly sources: readonly { readonly id: string; readonly type: string }[];
}

export const backfillCommand: Command = {
  summary: 're-capture a dynamodb-stream source table in full (upsert snapshots, parallel scan)',
  usage: [
    'usage: syncline backfill <flow> [--source <id>] [--url URL] [--json]',
    '  --source  the dynamodb-stream source to re-capture (default: every dynamodb-stream source of the flow)',
    '  Merges are idempotent: a backfill never regresses newer state.',
  ].join('\n'),
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { source: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean' }, stack: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give one flow id');
    const flowId = positionals[0]!;
    if (values.stack) {
      ctx.err(`--stack ${values.stack}: commands against a deployed stack are not available yet; use the local runtime (--url)`);
      return EXIT.failure;
    }
    const base = adminUrl(values.url);
    try {
      let sources: string[];
      if (values.source) sources = [values.source];
      else {
        const flows = (await getJson(base, '/flows')) as FlowListing[];
        const flow = flows.find((f) => f.id === flowId);
        if (!flow) throw new AdminError(`unknown flow "${flowId}" (flows: ${flows.map((f) => f.id).join(', ') || 'none'})`);
        sources = flow.sources.filter((s) => s.type === 'dynamodb-stream').map((s) => s.id);
        if (sources.length === 0) throw new AdminError(`flow "${flowId}" has no dynamodb-stream source to backfill`);
      }
      const summaries: BackfillSummary[] = [];
      for (const source of sources) summaries.push((await postJson(base, `/flows/${enc(flowId)}/sources/${enc(source)}/backfill`)) as BackfillSummary);
      if (values.json) ctx.out(JSON.stringify(summaries.length === 1 && values.source ? summaries[0] : summaries));
      else
        for (const s of summaries)
          ctx.out(
            `${s.flow}/${s.source}: scanned ${s.scanned} items of ${s.table} (${s.segments} segments), sent ${s.sent} snapshots` +
              `${s.filtered ? `, ${s.filtered} filtered` : ''}${s.quarantined ? `, ${s.quarantined} quarantined` : ''}${s.failed ? `, ${s.failed} FAILED (run again)` : ''}`,
          );
      return summaries.some((s) => s.failed > 0) ? EXIT.failure : EXIT.ok;
    } catch (err) {
      if (err instanceof AdminError) {
        ctx.err(err.message);
        return EXIT.failure;
      }
      throw err;
    }
  },
};

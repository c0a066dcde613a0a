import { AdminError } from './admin-client';
import { runAdmin } from './admin-commands';
import { EXIT, parse, UsageError, type Command } from './command';
import { createProgress, type Progress } from './progress';
import { DEFAULT_BACKFILL_SEGMENTS, type BackfillSummary } from '../../functions/handlers/backfill-handler';
import { TARGET_USAGE, targetOptions, type SynclineTarget } from './target';

interface FlowListing {
  readonly id: string;
  readonly sources: readonly { readonly id: string; readonly type: string }[];
}

/** Items per request by default: small enough for the bar to move and for a Lambda invocation to finish. */
export const DEFAULT_MAX_ITEMS = 1000;

/**
 * Backfills one source: `segments` parallel scan segments, each continued chunk by chunk on its cursor until it
 * is done, summed into one summary. A failed chunk stops the other segments after their current chunk.
 */
export async function backfillInChunks(target: SynclineTarget, flowId: string, sourceId: string, segments: number, maxItems: number, progress: Progress): Promise<BackfillSummary> {
  const counts = { scanned: 0, sent: 0, filtered: 0, quarantined: 0, failed: 0 };
  let table = '';
  let approximate: number | undefined;
  let stopped = false;
  progress.update(0, undefined, sourceId);
  const run = async (segment: number) => {
    let cursor: string | undefined;
    do {
      const chunk = await target.backfillChunk(flowId, sourceId, { segment, totalSegments: segments, maxItems, ...(cursor !== undefined ? { cursor } : {}) }).catch((err: unknown) => {
        stopped = true;
        throw err;
      });
      table = chunk.table;
      for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += chunk[k];
      if (chunk.approximateItems !== undefined) approximate = Math.max(approximate ?? 0, chunk.approximateItems);
      progress.update(counts.scanned, approximate, sourceId);
      cursor = chunk.cursor;
    } while (cursor !== undefined && !stopped);
  };
  await Promise.all(Array.from({ length: segments }, (_, segment) => run(segment)));
  return { flow: flowId, source: sourceId, table, segments, ...counts };
}

function positiveInt(text: string | undefined, flag: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}`);
  return n;
}

export const backfillCommand: Command = {
  summary: 're-capture a dynamodb-stream source table in full (upsert snapshots, parallel scan)',
  usage: [
    'usage: syncline backfill <flow> [--source <id>] [--segments N] [--max-items N] [target options] [--json]',
    '  --source     the dynamodb-stream source to re-capture (default: every dynamodb-stream source of the flow)',
    '  --segments   parallel scan segments (default 4)',
    `  --max-items  items per request (default ${DEFAULT_MAX_ITEMS}); each segment continues request by request`,
    '  In AWS the source\'s capture function runs each chunk. Merges are idempotent: a backfill never regresses newer state.',
    TARGET_USAGE,
  ].join('\n'),
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...targetOptions, source: { type: 'string' }, segments: { type: 'string' }, 'max-items': { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give one flow id');
    const flowId = positionals[0]!;
    const segments = positiveInt(values.segments, '--segments', 1000) ?? DEFAULT_BACKFILL_SEGMENTS;
    const maxItems = positiveInt(values['max-items'], '--max-items', 1_000_000) ?? DEFAULT_MAX_ITEMS;
    return runAdmin(ctx, values, async (target) => {
      let sources: string[];
      if (values.source) sources = [values.source];
      else {
        const flows = (await target.get('/flows')) as FlowListing[];
        const flow = flows.find((f) => f.id === flowId);
        if (!flow) throw new AdminError(`unknown flow "${flowId}" (flows: ${flows.map((f) => f.id).join(', ') || 'none'})`);
        sources = flow.sources.filter((s) => s.type === 'dynamodb-stream').map((s) => s.id);
        if (sources.length === 0) throw new AdminError(`flow "${flowId}" has no dynamodb-stream source to backfill`);
      }
      const summaries: BackfillSummary[] = [];
      for (const source of sources) {
        const progress = createProgress({ title: `backfill ${flowId}`, json: values.json });
        summaries.push(await backfillInChunks(target, flowId, source, segments, maxItems, progress).finally(() => progress.stop()));
      }
      if (values.json) ctx.out(JSON.stringify(summaries.length === 1 && values.source ? summaries[0] : summaries));
      else
        for (const s of summaries)
          ctx.out(
            `${s.flow}/${s.source}: scanned ${s.scanned} items of ${s.table} (${s.segments} segments), sent ${s.sent} snapshots` +
              `${s.filtered ? `, ${s.filtered} filtered` : ''}${s.quarantined ? `, ${s.quarantined} quarantined` : ''}${s.failed ? `, ${s.failed} FAILED (run again)` : ''}`,
          );
      return summaries.some((s) => s.failed > 0) ? EXIT.failure : EXIT.ok;
    });
  },
};

import type { PullSummary } from '../../functions/core/pull/pull-run';
import { runAdmin } from './admin-commands';
import type { FlowConfig } from '../../functions/config/schema';
import { pullKeysSealed } from '../../functions/core/pull/pull-keys';
import { AdminError } from './admin-client';
import { EXIT, parse, UsageError, type Command, type CommandContext } from './command';
import { TARGET_USAGE, targetOptions, type SynclineTarget } from './target';

/** The summary of a pull as lines a person reads. */
export function describePull(s: PullSummary): string[] {
  if (s.busy) return [`${s.flow}/${s.source}: another pull of this source is running; nothing was done (try again when it ends)`];
  const lines = [
    `${s.flow}/${s.source}: ${s.pages} page${s.pages === 1 ? '' : 's'}, ${s.records} records, ${s.changed} changed, ${s.quarantined} quarantined, ${s.deletesInferred} deletes inferred` +
      `${s.deletesRefused ? `, ${s.deletesRefused} deletes REFUSED by maxDeleteRatio (re-run with --accept-deletes if they are real)` : ''}` +
      `${s.deletesSkipped ? ` (delete inference skipped: ${s.deletesSkipped})` : ''}`,
  ];
  if (s.run && s.run.invocations > 1) lines.push(`  whole run so far: ${s.run.pages} pages, ${s.run.records} records, ${s.run.changed} changed, ${s.run.quarantined} quarantined in ${s.run.invocations} invocations`);
  if (s.error) lines.push(`  the source FAILED: ${s.error} (the next run resumes from the checkpoint)`);
  else if (s.continued) lines.push('  not finished: the run continues in another invocation (see `syncline status` and the logs)');
  else if (s.complete) lines.push('  complete');
  return lines;
}

export const pullCommand: Command = {
  summary: 'run a schedule source now, without waiting for its timer',
  usage: [
    'usage: syncline pull <flow> <source> [--accept-deletes] [--restart] [target options] [--json]',
    '       syncline pull <flow> <source> --purge-raw-keys [target options] [--json]',
    '  --accept-deletes  let this run delete more than the source\'s maxDeleteRatio allows',
    '  --restart         drop an unfinished run\'s progress and start over',
    '  --purge-raw-keys  pull nothing; delete the pull state items an earlier release left with a masked key as read',
    '                    (a Scan of the state table with your credentials: dynamodb:Scan, GetItem, UpdateItem, BatchWriteItem)',
    '  In AWS the source\'s capture function runs the pull. Exit 1 when the source failed or another pull holds it.',
    TARGET_USAGE,
  ].join('\n'),
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...targetOptions, 'accept-deletes': { type: 'boolean' }, restart: { type: 'boolean' }, 'purge-raw-keys': { type: 'boolean' } });
    if (positionals.length !== 2) throw new UsageError('give a flow id and a schedule source id');
    const [flow, source] = positionals as [string, string];
    if (values['purge-raw-keys'] && (values['accept-deletes'] || values.restart)) throw new UsageError('--purge-raw-keys pulls nothing: give it alone');
    if (values['purge-raw-keys']) return runAdmin(ctx, values, (target) => purge(ctx, target, flow, source, values.json === true));
    return runAdmin(ctx, values, async (target) => {
      const summary = await target.pull(flow, source, {
        ...(values['accept-deletes'] ? { acceptDeletes: true } : {}),
        ...(values.restart ? { restart: true } : {}),
      });
      if (values.json) ctx.out(JSON.stringify(summary));
      else for (const line of describePull(summary)) ctx.out(line);
      return summary.error || summary.busy ? EXIT.failure : EXIT.ok;
    });
  },
};

/** `--purge-raw-keys`: for a flow whose pull keeps keys sealed, the items of keys as read that no run can find. */
async function purge(ctx: CommandContext, target: SynclineTarget, flowId: string, sourceId: string, json: boolean): Promise<number> {
  const view = (await target.get(`/flows/${encodeURIComponent(flowId)}`)) as { config: FlowConfig; resources: { tables: { state: string } } };
  const source = view.config.sources.find((s) => s.id === sourceId);
  if (source?.type !== 'schedule') throw new AdminError(`flow "${flowId}" has no schedule source "${sourceId}"`);
  if (!pullKeysSealed(view.config, source)) {
    throw new AdminError(`${flowId}/${sourceId} keeps its keys as read (the flow does not mask its key, or the pull is incremental): there is nothing to purge`);
  }
  const client = await target.storeClient();
  try {
    // Loaded only here: the SDK's DynamoDB clients are not needed by other local commands.
    const { purgeRawPullKeys } = await import('./pull-purge');
    const result = await purgeRawPullKeys(client, view.resources.tables.state, flowId, sourceId).catch((err: unknown) => {
      if ((err as Error).name !== 'AccessDeniedException') throw err;
      throw new AdminError(`the caller may not purge the state table ${view.resources.tables.state}: it needs dynamodb:Scan, GetItem, UpdateItem and BatchWriteItem on it (${(err as Error).message})`);
    });
    ctx.out(json ? JSON.stringify({ flow: flowId, source: sourceId, ...result }) : `${flowId}/${sourceId}: deleted ${result.deleted} items that held a key as read; ${result.kept} sealed items kept`);
    return EXIT.ok;
  } finally {
    client.destroy();
  }
}

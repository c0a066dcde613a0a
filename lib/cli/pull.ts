import type { PullSummary } from '../../functions/core/pull/pull-run';
import { runAdmin } from './admin-commands';
import { EXIT, parse, UsageError, type Command } from './command';
import { TARGET_USAGE, targetOptions } from './target';

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
    '  --accept-deletes  let this run delete more than the source\'s maxDeleteRatio allows',
    '  --restart         drop an unfinished run\'s progress and start over',
    '  In AWS the source\'s capture function runs the pull. Exit 1 when the source failed or another pull holds it.',
    TARGET_USAGE,
  ].join('\n'),
  async run(ctx) {
    const { values, positionals } = parse(ctx.args, { ...targetOptions, 'accept-deletes': { type: 'boolean' }, restart: { type: 'boolean' } });
    if (positionals.length !== 2) throw new UsageError('give a flow id and a schedule source id');
    const [flow, source] = positionals as [string, string];
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

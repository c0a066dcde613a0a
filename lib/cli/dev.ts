import { readFileSync } from 'node:fs';
import { readCdkContext } from '../config/cdk-context';
import { ConfigError, formatIssue, loadConfig } from '../config/load';
import type { SynclineConfig } from '../../functions/config/schema';
import { PortInUseError } from '../local/http-server';
import { OutdatedTableError } from '../local/resources';
import { RuntimeError, startRuntime, type Runtime } from '../local/runtime';
import { LocalServerError } from '../local/servers';
import { UnsupportedError } from '../../functions/plan/plan';
import { EXIT, parse, UsageError, type Command, type CommandContext } from './command';
import { messageOf } from '../../functions/core/errors';

function parsePort(text: string, from: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`${from} must be a port number (0-65535), got "${text}"`);
  return port;
}

function readSecretsFile(file: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RuntimeError(`--secrets ${file}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new RuntimeError(`--secrets ${file}: must be a JSON object mapping secret names to string values`);
  }
  return value as Record<string, string>;
}

/** Resolves when the process is asked to stop (Ctrl-C or SIGTERM). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.removeListener('SIGINT', on);
      process.removeListener('SIGTERM', on);
      // A second Ctrl-C while stopping quits at once.
      process.once('SIGINT', () => process.exit(130));
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export function printBanner(runtime: Runtime, config: SynclineConfig, out: (line: string) => void): void {
  out(`syncline: ready on ${runtime.url}`);
  for (const flow of config.flows) {
    out(`  flow ${flow.id}${flow.description ? ` (${flow.description})` : ''}`);
    for (const w of runtime.webhooks.filter((x) => x.flowId === flow.id)) {
      const source = flow.sources.find((x) => x.id === w.sourceId);
      // Vendor schemes name their secret; Standard Webhooks sources without one share the runtime's secret below.
      const auth = source?.type === 'webhook' && source.auth.secretName ? `  (${source.auth.type}, secret ${source.auth.secretName})` : '';
      for (const url of w.urls) out(`    POST ${url}${auth}`);
    }
    const fr = runtime.resources.flows[flow.id];
    for (const source of flow.sources) {
      const pull = `POST ${runtime.url}/flows/${flow.id}/sources/${source.id}/pull`;
      if (source.type === 'dynamodb-stream') out(`    ${source.id}: stream of table ${fr?.sourceTables[source.id]} (backfill: npx syncline backfill ${flow.id} --source ${source.id} --url ${runtime.url})`);
      else if (source.type === 'schedule') {
        const schedule = runtime.schedules.get(`${flow.id}/${source.id}`);
        const when = schedule?.manualOnly ? 'on demand only' : source.every ? `every ${source.every}` : `${source.cron} (UTC)`;
        out(`    ${source.id}: ${source.http ? source.http.url : `s3://${source.s3?.bucket}/${source.s3?.prefix ?? ''}`} ${when}; now: ${pull}`);
      } else if (source.type === 'sqs') out(`    ${source.id}: queue ${fr?.queues[`inbound-${source.id}`]?.url}`);
      else if (source.type === 'eventbridge') out(`    ${source.id}: bus "${source.busName}" (POST ${runtime.url}/local/events)`);
    }
  }
  // A secret the user set stays out of terminals and logs; only a generated one must be shown to be usable. It signs
  // only the webhook sources without a secretName of their own.
  const shared = config.flows.some((f) => f.sources.some((x) => x.type === 'webhook' && !x.auth.secretName));
  if (shared) {
    out(
      runtime.webhookSecretGenerated
        ? `  webhook secret (sources without a secretName): ${runtime.webhookSecret}  (generated; set SYNCLINE_WEBHOOK_SECRET to keep one)`
        : '  webhook secret (sources without a secretName): from SYNCLINE_WEBHOOK_SECRET (not printed)',
    );
  }
  out(`  admin: GET /flows, /flows/{flow}, /flows/{flow}/records/{key}[/lineage], /flows/{flow}/conflicts, /flows/{flow}/quarantine`);
  out(`  local AWS endpoints: dynamodb ${runtime.endpoints.dynamodb}, sqs/s3 ${runtime.endpoints.sqs} (GET /local/endpoints)`);
  out("  sign a test webhook: npx syncline sign --secret <secret> --data '<a record as the source sends it, with its key and timestamp fields>' --curl <webhook url> | sh");
  out('Press Ctrl-C to stop.');
}

export const devCommand: Command = {
  summary: 'run every flow locally (DynamoDB Local + fauxqs); what `npm start` runs',
  usage: [
    'usage: syncline dev [--port N] [--config <file>] [--persist <dir>] [--secrets <file.json>] [--verbose]',
    '  --port     HTTP port on 127.0.0.1 (default: env PORT, else 3000; 0 picks a free one)',
    '  --config   flows file (JSON or YAML); default: the "syncline" context of cdk.json',
    '  --persist  keep DynamoDB Local data (state, audit, quarantine, targets) in this folder',
    '  --secrets  JSON file mapping secret names to values (else env SYNCLINE_SECRET_<NAME>)',
    'env: SYNCLINE_WEBHOOK_SECRET sets the signing secret of every webhook source (else one is generated)',
  ].join('\n'),
  async run(ctx: CommandContext) {
    const { values } = parse(
      ctx.args,
      { port: { type: 'string' }, config: { type: 'string' }, persist: { type: 'string' }, secrets: { type: 'string' }, verbose: { type: 'boolean' } },
      false,
    );
    const port = values.port !== undefined ? parsePort(values.port, '--port') : process.env.PORT ? parsePort(process.env.PORT, 'PORT') : 3000;
    let runtime: Runtime;
    let config: SynclineConfig;
    try {
      config = values.config ? loadConfig({ file: values.config }) : loadConfig(readCdkContext());
      const secrets = values.secrets ? readSecretsFile(values.secrets) : undefined;
      ctx.err('syncline: starting DynamoDB Local and fauxqs...');
      const stopping = untilSignal();
      const started = startRuntime({
        config,
        port,
        persist: values.persist,
        secrets,
        webhookSecret: process.env.SYNCLINE_WEBHOOK_SECRET || undefined,
        verbose: values.verbose,
        log: ctx.err,
      });
      // Ctrl-C during startup: wait for startup to settle, then stop what it started.
      const first = await Promise.race([started.then(() => 'started' as const), stopping.then(() => 'signal' as const)]);
      if (first === 'signal') {
        await started.then((r) => r.stop(), () => undefined);
        return EXIT.ok;
      }
      runtime = await started;
      printBanner(runtime, config, ctx.out);
      const signal = await stopping;
      ctx.err(`syncline: ${signal}, stopping...`);
      await runtime.stop();
      ctx.err('syncline: stopped');
      return EXIT.ok;
    } catch (err) {
      if (err instanceof ConfigError) {
        ctx.err(`syncline dev: invalid config (${err.origin}):`);
        for (const issue of err.issues) ctx.err(formatIssue(issue));
        return EXIT.failure;
      }
      if (err instanceof UnsupportedError) {
        ctx.err('syncline dev: this config uses types that cannot run yet:');
        for (const p of err.problems) ctx.err(`  ${p}`);
        return EXIT.failure;
      }
      if (err instanceof RuntimeError || err instanceof LocalServerError || err instanceof PortInUseError || err instanceof OutdatedTableError) {
        ctx.err(`syncline dev: ${err.message}`);
        return EXIT.failure;
      }
      throw err;
    }
  },
};

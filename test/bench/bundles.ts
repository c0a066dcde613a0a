/** Bundle size and module-load time of each Lambda entry, bundled the way the CDK construct does. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { flowSchema, type FlowConfig } from '../../functions/config/schema';
import { functionBundle, type BundledHandler } from '../fixtures/function-bundle';
import { ADMIN_ENTRY_FILES, ENTRY_FILES, type HandlerKind } from '../../functions/plan/plan';

export interface BundleRow {
  readonly handler: string;
  readonly bytes?: number;
  readonly gzipBytes?: number;
  /** Median ms of `await import(bundle)` inside a fresh node. */
  readonly importMs?: number;
  /** Median ms of the whole `node` process (start, import, exit). */
  readonly processMs?: number;
  readonly error?: string;
}

/** Dummy values of the variables entries read at module load (see functions/entry/*.ts). */
const KNOWN_ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'syncline-bench',
  STATE_TABLE: 'bench-state',
  AUDIT_TABLE: 'bench-audit',
  QUARANTINE_TABLE: 'bench-quarantine',
  CONFLICT_TABLE: 'bench-conflicts',
  DEDUP_TABLE: 'bench-dedup',
  WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-webhook',
  HASH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-hash',
  TRANSFORM_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-transform',
  RESOLVE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-resolve',
  DELIVER_QUEUE_URLS: JSON.stringify({ replica: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-deliver-replica' }),
  TARGET_TABLE: 'bench-replica',
  FLOW_RESOURCES: JSON.stringify({ queues: { transform: 'bench-transform', resolve: 'bench-resolve', 'deliver-replica': 'bench-deliver-replica' }, functions: {}, targetTables: {}, webhookSecrets: {}, streamFailureQueues: {} }),
  SQS_URL_PREFIX: 'https://sqs.us-east-1.amazonaws.com/000000000000/',
  SQS_ARN_PREFIX: 'arn:aws:sqs:us-east-1:000000000000:',
  API_ENDPOINT: 'https://bench.execute-api.us-east-1.amazonaws.com',
};

/** Every variable functions/entry/*.ts require, with a dummy value (known ones first, others by their suffix). */
function entryEnv(): Record<string, string> {
  const env: Record<string, string> = { ...KNOWN_ENV };
  for (const file of readdirSync('functions/entry').filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join('functions/entry', file), 'utf8');
    for (const m of text.matchAll(/require(Json)?(Map)?Env\('([A-Z0-9_]+)'/g)) {
      const name = m[3]!;
      if (env[name] !== undefined || name === 'SOURCE_ID' || name === 'TARGET_ID') continue;
      env[name] = m[1]
        ? '{}'
        : name.endsWith('_URL')
          ? `https://sqs.us-east-1.amazonaws.com/000000000000/bench-${name.toLowerCase()}`
          : name.endsWith('_ARN')
            ? `arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-${name.toLowerCase()}`
            : `bench-${name.toLowerCase().replace(/_/g, '-')}`;
    }
  }
  return env;
}

/** The source each capture entry needs (the example flow has only a webhook source). */
const EXTRA_SOURCES: Partial<Record<HandlerKind, Record<string, unknown>>> = {
  'sqs-capture': { id: 'queue', type: 'sqs' },
  'dynamodb-stream-capture': { id: 'table', type: 'dynamodb-stream', tableName: 'contacts-source' },
  'schedule-capture': { id: 'nightly', type: 'schedule', every: '1 hour', http: { url: 'https://crm.invalid/contacts' } },
};

/** A target of each other type, for the deliver entries (the example flow has only a dynamodb target). */
const EXTRA_TARGETS: Record<string, Record<string, unknown>> = {
  s3: { id: 'archive', type: 's3' },
  eventbridge: { id: 'events', type: 'eventbridge' },
  http: { id: 'webhook-out', type: 'http', url: 'https://crm.invalid/contacts/{key}' },
  sqs: { id: 'queue-out', type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:000000000000:bench-out' },
};

/** The flow baked into an entry's bundle, with the source or target the entry needs, and its SOURCE_ID / TARGET_ID. */
function flowFor(example: FlowConfig, handler: HandlerKind): { flow: FlowConfig; sourceId: string; targetId: string } {
  const { sources, targets, ...rest } = example;
  const source = EXTRA_SOURCES[handler];
  const targetType = handler.startsWith('deliver-') ? handler.slice('deliver-'.length) : undefined;
  const target = targetType && !targets.some((t) => t.type === targetType) ? (EXTRA_TARGETS[targetType] ?? { id: `bench-${targetType}`, type: targetType }) : undefined;
  const flow = source || target ? flowSchema.parse({ ...rest, sources: [...sources, ...(source ? [source] : [])], targets: [...targets, ...(target ? [target] : [])] }) : example;
  return {
    flow,
    sourceId: (source?.id as string | undefined) ?? sources[0]!.id,
    targetId: (target?.id as string | undefined) ?? (targets.find((t) => t.type === targetType) ?? targets[0]!).id,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Imports the bundle in a fresh node; answers the import time the child measured and the whole process time. */
function loadOnce(file: string, env: Record<string, string>): Promise<{ importMs: number; processMs: number }> {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const processMs = performance.now() - t0;
      if (code !== 0) reject(new Error(err.split('\n').find((l) => /^\s*(\w*Error)(\s*\[\w+\])?: /.test(l))?.trim() ?? `exit ${code}`));
      else resolve({ importMs: Number(out), processMs });
    });
  });
}

export async function benchBundles(example: FlowConfig, options: { loads?: number } = {}): Promise<BundleRow[]> {
  const loads = options.loads ?? 5;
  // Inside the project, so a module left to the runtime's SDK resolves from node_modules and its load is timed.
  mkdirSync(resolve('node_modules/.cache'), { recursive: true });
  const dir = mkdtempSync(resolve('node_modules/.cache/syncline-bench-'));
  const baseEnv = entryEnv();
  const rows: BundleRow[] = [];
  try {
    const handlers = [...Object.keys(ENTRY_FILES), ...Object.keys(ADMIN_ENTRY_FILES)] as BundledHandler[];
    for (const handler of handlers) {
      try {
        const { flow, sourceId, targetId } = handler in ENTRY_FILES ? flowFor(example, handler as HandlerKind) : { flow: example, sourceId: '', targetId: '' };
        const bundle = await functionBundle(handler, flow, handler in ENTRY_FILES ? { sourceId, targetId } : {}, join(dir, handler, 'index.mjs'));
        // A static import of a module left to the runtime would load the runtime's SDK at every cold start.
        if (bundle.staticExternals.length > 0) throw new Error(`imports ${bundle.staticExternals.join(', ')} statically, from the runtime at every cold start`);
        const code = bundle.code;
        const file = join(dir, `${handler}.mjs`);
        writeFileSync(file, code);
        const env = { ...baseEnv, SOURCE_ID: sourceId, TARGET_ID: targetId };
        const times: { importMs: number; processMs: number }[] = [];
        for (let i = 0; i < loads; i++) times.push(await loadOnce(file, env));
        rows.push({
          handler,
          bytes: code.byteLength,
          gzipBytes: gzipSync(code).byteLength,
          importMs: median(times.map((t) => t.importMs)),
          processMs: median(times.map((t) => t.processMs)),
        });
      } catch (err) {
        rows.push({ handler, error: (err as Error).message.split('\n')[0]!.slice(0, 120) });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

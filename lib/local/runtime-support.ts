import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { secretEnvVar } from '../../functions/adapters/env-secrets';
import { parseDurationMs } from '../../functions/core/duration';
import type { FlowResourceView } from '../../functions/handlers/admin-service';
import type { LogPort } from '../../functions/ports';
import { namedSecrets } from '../../functions/config/named-secrets';
import type { FlowConfig, SynclineConfig } from '../../functions/config/schema';
import type { FlowPlan, FunctionPlan, Plan } from '../../functions/plan/plan';
import type { LocalClients, LocalEndpoints } from './clients';
import type { LocalEventBus } from './event-bus';
import type { RecoverySummary } from './persistence';
import { LOCAL_PAYLOAD_BUCKET, type LocalResources } from './resources';
import type { LocalSchedule } from './scheduler';
import { DEFAULT_SQS_CONCURRENCY } from './sqs-poller';
import { SynclineError } from '../../functions/core/errors';

/* The local runtime's options and answer, and the small helpers startRuntime (./runtime.ts) builds on. */

export interface RuntimeOptions {
  readonly config: SynclineConfig;
  /** Port of the HTTP API on 127.0.0.1; 0 picks a free one. @default 3000 */
  readonly port?: number;
  /** Keep DynamoDB Local's data (and the hash-masking key) in this folder; in memory when absent. */
  readonly persist?: string;
  /** Signing secret of every webhook source (`whsec_...`); generated when absent. */
  readonly webhookSecret?: string;
  /** Secret values by name (the `--secrets` file); they win over `SYNCLINE_SECRET_<NAME>`. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Environment to read `SYNCLINE_SECRET_<NAME>` from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Visibility timeout of every queue: a failed message is retried after it. @default 2 */
  readonly visibilityTimeoutSeconds?: number;
  /** Where runtime and handler warnings go. @default stderr */
  readonly log?: (line: string) => void;
  /** Also log handlers' info lines. */
  readonly verbose?: boolean;
  /**
   * For benchmarks and tests: called once with the SDK clients, before anything uses them (e.g. to add a
   * middleware). Every resource, adapter and poller of the runtime uses these clients.
   */
  readonly instrumentClients?: (clients: LocalClients) => void;
  /** For benchmarks and tests: wraps each function's handler; the runtime invokes what it returns instead. */
  readonly wrapHandler?: HandlerWrapper;
}

/** Wraps a function's handler (HTTP or SQS) without changing its signature. */
export type HandlerWrapper = <H extends (...args: any[]) => Promise<unknown>>(fn: FunctionPlan, handler: H) => H;

export interface WebhookEndpoint {
  readonly flowId: string;
  readonly sourceId: string;
  readonly urls: readonly string[];
}

export interface Runtime {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly endpoints: LocalEndpoints;
  readonly webhookSecret: string;
  /** Whether the webhook secret was generated (so the caller prints it). */
  readonly webhookSecretGenerated: boolean;
  readonly webhooks: readonly WebhookEndpoint[];
  readonly plan: Plan;
  readonly resources: LocalResources;
  readonly clients: LocalClients;
  /**
   * The local EventBridge: `putEvents` records each event and routes it to the inbound queue of every
   * `eventbridge` source whose bus and pattern match; `list` gives what was put, newest last.
   */
  readonly eventBus: LocalEventBus;
  /** Schedule sources' triggers by `<flow>/<source>` (timer, on-demand pulls). */
  readonly schedules: ReadonlyMap<string, LocalSchedule>;
  /** With `persist`: the queued messages and stored objects the last run left, brought back at start. */
  readonly recovered?: RecoverySummary;
  /** True when no request is in flight, no pull or conflict sweep runs, and every flow queue (not the DLQs) is empty with no batch in a handler. */
  idle(): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * How often a manual flow's conflict sweep runs locally: half of `autoResolveAfter`, between 1 s and 60 s, so a
 * short limit (e.g. "5 seconds" in a test) is honoured within half of itself; every 60 s without one. In AWS the
 * schedule runs every 1 or 5 minutes (see `conflictSweepEvery`).
 */
export function localSweepEveryMs(flow: FlowConfig): number {
  const after = flow.conflict.autoResolveAfter;
  if (after === undefined) return 60_000;
  return Math.max(1_000, Math.min(60_000, Math.floor(parseDurationMs(after) / 2)));
}

/** A runtime startup problem, printed as one line. */
export class RuntimeError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** A new Standard Webhooks signing secret. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function checkWebhookSecret(secret: string): void {
  try {
    new Webhook(secret.startsWith('whsec_') ? secret : `whsec_${secret}`);
  } catch {
    throw new RuntimeError('the webhook secret (SYNCLINE_WEBHOOK_SECRET) must be "whsec_" followed by base64');
  }
  if (!secret.startsWith('whsec_')) throw new RuntimeError('the webhook secret (SYNCLINE_WEBHOOK_SECRET) must start with "whsec_"');
}

/** The hash-masking key: stable across restarts with --persist, else fresh for each runtime. */
export function hashKeyFor(persist: string | undefined): string {
  if (!persist) return randomBytes(32).toString('hex');
  const dir = resolvePath(persist);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'syncline-hash-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = randomBytes(32).toString('hex');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** Where a flow's resources are on the local servers, as the admin API describes them. */
export function localFlowResources(fp: FlowPlan, resources: LocalResources, targetBuckets: Readonly<Record<string, string>>, webhookSecretGenerated: boolean): FlowResourceView {
  const fr = resources.flows[fp.flow.id]!;
  return {
    tables: { ...resources.tables, targets: fr.targetTables, sources: fr.sourceTables },
    buckets: { targets: targetBuckets, payloads: LOCAL_PAYLOAD_BUCKET },
    sources: { buckets: fr.sourceBuckets, streamFailureQueues: fr.streamFailureQueues },
    queues: fr.queues,
    functions: Object.fromEntries(fp.functions.map((fn) => [fn.id, fn.name])),
    secrets: {
      webhooks: fp.webhookSecrets.map((s) => ({
        sourceId: s.sourceId,
        name: s.name,
        local: s.named ? secretEnvVar(s.name) : webhookSecretGenerated ? 'generated at start' : 'SYNCLINE_WEBHOOK_SECRET',
      })),
      named: namedSecrets({ flows: [fp.flow] }).map((name) => ({ name, env: secretEnvVar(name) })),
    },
  };
}

export function localLogPort(name: string, log: (line: string) => void, verbose: boolean): LogPort {
  const line = (level: string, message: string, attributes?: Record<string, unknown>) =>
    log(`[${name}] ${level} ${message}${attributes && Object.keys(attributes).length ? ` ${JSON.stringify(attributes)}` : ''}`);
  return {
    debug: () => undefined,
    info: (m, a) => (verbose ? line('info', m, a) : undefined),
    warn: (m, a) => line('warn', m, a),
    error: (m, a) => line('error', m, a),
  };
}

/**
 * Batches one SQS-triggered function runs at once locally: Lambda's five, capped by the plan's `MaximumConcurrency`.
 * Targets written without a version condition (S3, EventBridge, HTTP, SQS) take one batch at a time, so two
 * deliveries of a key never overlap and the later state always lands last.
 */
export function sqsConcurrency(fn: FunctionPlan): number {
  if (fn.handler === 'deliver-s3' || fn.handler === 'deliver-eventbridge' || fn.handler === 'deliver-http' || fn.handler === 'deliver-sqs') return 1;
  return Math.min(DEFAULT_SQS_CONCURRENCY, fn.maxConcurrency ?? DEFAULT_SQS_CONCURRENCY);
}

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { Webhook } from 'standardwebhooks';
import type { FlowConfig, SynclineConfig } from '../config/schema';
import { namedSecrets } from '../config/named-secrets';
import { conflictEventBus, plan as planTopology, type FlowPlan, type FunctionPlan, type Plan } from '../plan/plan';
import { parseDurationMs } from '../../functions/core/merge/clock';
import { createConflictSweeper } from '../../functions/handlers/conflict-sweeper';

export { namedSecrets };
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbDedupStore } from '../../functions/adapters/dynamodb-dedup-store';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { DynamoDbStateStore, flowTargets } from '../../functions/adapters/dynamodb-state-store';
import { DynamoDbTargetWriter } from '../../functions/adapters/dynamodb-target-writer';
import { EnvSecrets, secretEnvVar } from '../../functions/adapters/env-secrets';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { S3PayloadStore } from '../../functions/adapters/s3-payload-store';
import { withClaimChecks } from '../../functions/handlers/sqs-batch';
import { documentClientFor } from '../../functions/adapters/clients';
import { compileTransform } from '../../functions/core/transform/pipeline';
import { createDeliverDynamoDbHandler } from '../../functions/handlers/deliver-dynamodb-handler';
import { createResolveHandler } from '../../functions/handlers/resolve-handler';
import { EventBridgeEventPublisher } from '../../functions/adapters/eventbridge-event-publisher';
import { createTransformHandler } from '../../functions/handlers/transform-handler';
import { createWebhookCaptureHandler } from '../../functions/handlers/webhook-capture-handler';
import type { LogPort, Secrets } from '../../functions/ports';
import { createLocalClients, LOCAL_REGION, type LocalClients, type LocalEndpoints } from './clients';
import { assertPortFree, startHttpServer, type HttpRoute, type LocalAdminApi, type LocalHttpServer } from './http-server';
import { createResources, ensureBucket, LOCAL_PAYLOAD_BUCKET, type LocalResources } from './resources';
import { createLocalTargetHandler, createTargetResources } from './target-resources';
import { startLocalServers, type LocalServers } from './servers';
import { LocalPersistence, lockPersistFolder, PersistFolderInUseError, type RecoverySummary } from './persistence';
import { SqsPoller, type SqsHandler } from './sqs-poller';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDbPullStateStore } from '../../functions/adapters/dynamodb-pull-state-store';
import { createPullReader } from '../../functions/adapters/pull-readers';
import type { ScheduleSource } from '../../functions/core/pull/records';
import { createDynamoDbStreamCaptureHandler } from '../../functions/handlers/dynamodb-stream-capture-handler';
import { createScheduleCaptureHandler } from '../../functions/handlers/schedule-capture-handler';
import { createSqsCaptureHandler } from '../../functions/handlers/sqs-capture-handler';
import { createBackfillHandler } from '../../functions/handlers/backfill-handler';
import { DynamoDbTableScanner } from '../../functions/adapters/dynamodb-table-scanner';
import { localOnlyRoutes, type LocalBackfill } from './local-only-routes';
import { SqsQueueDepths } from '../../functions/adapters/sqs-queue-depths';
import { createAdminService, type FlowResourceView } from '../../functions/handlers/admin-service';
import { busNameOf, LocalEventBus } from './event-bus';
import { LocalSchedule, LocalTimer } from './scheduler';
import { StreamPoller } from './stream-poller';

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
export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** A new Standard Webhooks signing secret. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

function checkWebhookSecret(secret: string): void {
  try {
    new Webhook(secret.startsWith('whsec_') ? secret : `whsec_${secret}`);
  } catch {
    throw new RuntimeError('the webhook secret (SYNCLINE_WEBHOOK_SECRET) must be "whsec_" followed by base64');
  }
  if (!secret.startsWith('whsec_')) throw new RuntimeError('the webhook secret (SYNCLINE_WEBHOOK_SECRET) must start with "whsec_"');
}

/** The hash-masking key: stable across restarts with --persist, else fresh for each runtime. */
function hashKeyFor(persist: string | undefined): string {
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
function localFlowResources(fp: FlowPlan, resources: LocalResources, config: SynclineConfig, webhookSecretGenerated: boolean): FlowResourceView {
  const fr = resources.flows[fp.flow.id]!;
  return {
    tables: { ...resources.tables, targets: fr.targetTables, sources: fr.sourceTables },
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

function localLogPort(name: string, log: (line: string) => void, verbose: boolean): LogPort {
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
 * Runs every flow of a config on this machine: DynamoDB Local and fauxqs, the plan's resources, the same
 * handler factories and adapters as the Lambda functions (SDK clients pointed at the local servers),
 * SQS event source mappings emulated by pollers, and the HTTP API on 127.0.0.1.
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config } = options;
  const log = options.log ?? ((l: string) => console.error(l));
  const verbose = options.verbose ?? false;
  const visibility = options.visibilityTimeoutSeconds ?? 2;
  const topology = planTopology(config);

  // Fail before starting anything when a secret is missing.
  const envSecrets = new EnvSecrets({ values: options.secrets, env: options.env });
  const missing = namedSecrets(config).flatMap((name) => {
    try {
      envSecrets.getSync(name);
      return [];
    } catch {
      return [`secret "${name}" is not set: set ${secretEnvVar(name)} or add "${name}" to the --secrets file`];
    }
  });
  if (missing.length) throw new RuntimeError(missing.join('\n'));
  const webhookSecretGenerated = !options.webhookSecret;
  const webhookSecret = options.webhookSecret ?? generateWebhookSecret();
  checkWebhookSecret(webhookSecret);
  // Sources without `auth.secretName` share SYNCLINE_WEBHOOK_SECRET; named ones are read like every named secret.
  const webhookSecretNames = new Set(topology.flows.flatMap((f) => f.webhookSecrets.filter((s) => !s.named).map((s) => s.name)));
  const secrets: Secrets = {
    get: async (name) => (webhookSecretNames.has(name) ? webhookSecret : envSecrets.get(name)),
  };
  await assertPortFree(options.port ?? 3000);
  const hashKey = hashKeyFor(options.persist);

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => log(`[runtime] stop: ${(err as Error).message}`));
  };

  try {
    if (options.persist) {
      let release: () => void;
      try {
        release = lockPersistFolder(options.persist);
      } catch (err) {
        throw err instanceof PersistFolderInUseError ? new RuntimeError(err.message) : err;
      }
      cleanups.push(async () => release());
    }
    const servers: LocalServers = await startLocalServers({ persist: options.persist });
    cleanups.push(() => servers.stop());
    const endpoints: LocalEndpoints = { dynamodb: servers.dynamodb, sqs: servers.sqs, s3: servers.s3 };
    const clients = createLocalClients(endpoints);
    cleanups.push(async () => clients.destroy());
    options.instrumentClients?.(clients);
    const wrap: HandlerWrapper = options.wrapHandler ?? ((_fn, handler) => handler);
    const doc = documentClientFor(clients.dynamodb);

    const resources = await createResources(topology, { dynamodb: clients.dynamodb, sqs: clients.sqs, s3: clients.s3, visibilityTimeoutSeconds: visibility });
    const targetResources = await createTargetResources(topology, clients);
    const t = resources.tables;
    const stateStore = new DynamoDbStateStore({ client: doc, tableName: t.state, targets: flowTargets(config.flows) });
    const retention = (flowId: string) => config.flows.find((f) => f.id === flowId)?.audit.retentionDays ?? 90;
    const audit = new DynamoDbAuditLog({ client: doc, tableName: t.audit, retentionDays: retention });
    const conflicts = new DynamoDbConflictStore({ client: doc, tableName: t.conflicts, retentionDays: retention });
    const dedup = new DynamoDbDedupStore({ client: doc, tableName: t.dedup });
    // Claim check: messages over 250 KB travel through this bucket, as in AWS through the store's payload bucket.
    await ensureBucket(clients.s3, LOCAL_PAYLOAD_BUCKET);
    const payloads = new S3PayloadStore({ client: clients.s3, bucket: LOCAL_PAYLOAD_BUCKET });
    // fauxqs keeps queues and objects in memory: under --persist they are journaled and brought back here.
    let recovered: RecoverySummary | undefined;
    if (options.persist) {
      const persistence = new LocalPersistence(options.persist);
      cleanups.push(async () => persistence.close());
      recovered = await persistence.recover(clients, resources, targetResources);
      const count = Object.values(recovered.messages).reduce((a, b) => a + b, 0);
      if (count || recovered.objects) log(`[runtime] recovered from ${options.persist}: ${count} queued message(s), ${recovered.objects} object(s)`);
    }
    const publisher = new SqsPublisher({ client: clients.sqs, payloads });
    // DynamoDB Local serves the Streams API on its own endpoint.
    const streamsClient = new DynamoDBStreamsClient({ region: LOCAL_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, endpoint: endpoints.dynamodb, maxAttempts: 3 });
    cleanups.push(async () => streamsClient.destroy());
    const eventBus = new LocalEventBus({
      sqs: clients.sqs,
      region: LOCAL_REGION,
      rules: topology.flows.flatMap((f) =>
        f.eventRules.map((r) => {
          const q = resources.flows[f.flow.id]!.queues[r.queue]!;
          return { busName: busNameOf(r.busName), pattern: r.pattern, queueName: q.name, queueUrl: q.url };
        }),
      ),
    });
    // ConflictOpened events go to the flow's bus on the local EventBridge (`conflict.eventBusName`, else default), as in AWS.
    const conflictEventsOf = (flow: FlowConfig) => new EventBridgeEventPublisher({ putter: eventBus, busName: conflictEventBus(flow) });
    const sweeps: LocalTimer[] = [];
    const streamPollers: StreamPoller[] = [];
    const schedules = new Map<string, LocalSchedule>();
    // Backfills of dynamodb-stream sources by `<flow>/<source>`: what their capture function runs on a direct invoke in AWS.
    const backfills = new Map<string, LocalBackfill>();
    const pullState = new DynamoDbPullStateStore({ client: doc, tableName: t.state });

    const routes: HttpRoute[] = [];
    const pollers: SqsPoller[] = [];
    const webhooks: WebhookEndpoint[] = [];
    for (const flowPlan of topology.flows) {
      const flow = flowPlan.flow;
      const fr = resources.flows[flow.id]!;
      const quarantine = new DynamoDbQuarantineStore({ client: doc, tableName: t.quarantine, retentionDays: flow.audit.retentionDays });
      const queueUrl = (id: string) => fr.queues[id]!.url;
      const sqsFunction = (fn: FunctionPlan, handler: SqsHandler) => {
        if (fn.trigger.type !== 'sqs') throw new Error(`function ${fn.name} has no SQS trigger`);
        const queue = fr.queues[fn.trigger.queue]!;
        pollers.push(
          new SqsPoller({
            sqs: clients.sqs,
            name: fn.name,
            queueUrl: queue.url,
            queueArn: queue.arn,
            region: LOCAL_REGION,
            batchSize: fn.trigger.batchSize,
            maxBatchingWindowSeconds: fn.trigger.maxBatchingWindowSeconds,
            timeoutSeconds: fn.timeoutSeconds,
            // Inbound queues of users never carry claim checks; syncline's own queues may.
            handler: wrap(fn, fn.handler === 'sqs-capture' ? handler : withClaimChecks(handler, payloads, localLogPort(fn.name, log, verbose))),
            log,
          }),
        );
      };
      for (const fn of flowPlan.functions) {
        const logger = localLogPort(fn.name, log, verbose);
        switch (fn.handler) {
          case 'webhook-capture': {
            if (fn.trigger.type !== 'http') throw new Error(`function ${fn.name} has no HTTP trigger`);
            const sourceId = fn.sourceId!;
            const secretName = flowPlan.webhookSecrets.find((s) => s.sourceId === sourceId)!.name;
            const handler = wrap(
              fn,
              createWebhookCaptureHandler({
                flow,
                sourceId,
                secrets,
                webhookSecrets: { [sourceId]: secretName },
                transformQueueUrl: queueUrl('transform'),
                publisher,
                dedup,
                audit,
                quarantine,
                logger,
              }),
            );
            const source = flow.sources.find((s) => s.id === sourceId);
            const maxBodyBytes = source?.type === 'webhook' ? source.maxBodyBytes : 1_000_000;
            for (const path of fn.trigger.routes) routes.push({ method: 'POST', path, functionName: fn.name, maxBodyBytes, handler: async (event) => handler(event) });
            webhooks.push({ flowId: flow.id, sourceId, urls: fn.trigger.routes });
            break;
          }
          case 'transform': {
            const transformer = compileTransform(flow, { hashKey });
            sqsFunction(fn, createTransformHandler({ flow, transformer, publisher, resolveQueueUrl: queueUrl('resolve'), audit, quarantine, logger }));
            break;
          }
          case 'resolve': {
            const deliverQueueUrls = Object.fromEntries(flow.targets.map((target) => [target.id, queueUrl(`deliver-${target.id}`)]));
            const events = flow.conflict.strategy === 'manual' ? conflictEventsOf(flow) : undefined;
            const truncates = fn.sendsTo.includes('resolve') ? { truncates: { index: stateStore, resolveQueueUrl: queueUrl('resolve') } } : {};
            sqsFunction(fn, createResolveHandler({ flow, stateStore, audit, conflicts, publisher, deliverQueueUrls, logger, ...(events ? { events } : {}), ...truncates }));
            break;
          }
          case 'deliver-s3':
          case 'deliver-eventbridge':
          case 'deliver-http':
          case 'deliver-sqs': {
            const dlqUrl = fr.queues[`deliver-${fn.targetId}`]!.dlq.url;
            sqsFunction(fn, createLocalTargetHandler({ fn, flow, resources: targetResources, clients, stateStore, remoteIds: stateStore, audit, publisher, secrets, dlqUrl, eventBus: () => eventBus, logger }));
            break;
          }
          case 'deliver-dynamodb': {
            const targetId = fn.targetId!;
            const target = flow.targets.find((x) => x.id === targetId);
            if (target?.type !== 'dynamodb') throw new Error(`target "${targetId}" of flow "${flow.id}" is not a dynamodb target`);
            const tableName = fr.targetTables[targetId]!;
            const writer = new DynamoDbTargetWriter({ client: doc, stateTable: t.state, tableName, keyAttribute: target.keyAttribute });
            sqsFunction(fn, createDeliverDynamoDbHandler({ flow, targetId, stateStore, writer, audit, logger }));
            break;
          }
          case 'sqs-capture': {
            // sqs and eventbridge sources alike: the handler reads an eventbridge source's messages as events.
            sqsFunction(fn, createSqsCaptureHandler({ flow, sourceId: fn.sourceId!, transformQueueUrl: queueUrl('transform'), publisher, audit, quarantine, logger }));
            break;
          }
          case 'dynamodb-stream-capture': {
            if (fn.trigger.type !== 'dynamodb-stream') throw new Error(`function ${fn.name} has no DynamoDB stream trigger`);
            const sourceId = fn.sourceId!;
            const handler = createDynamoDbStreamCaptureHandler({ flow, sourceId, transformQueueUrl: queueUrl('transform'), publisher, audit, quarantine, logger });
            const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: fr.sourceTables[sourceId]! });
            backfills.set(`${flow.id}/${sourceId}`, {
              handler: createBackfillHandler({ flow, sourceId, scanner, transformQueueUrl: queueUrl('transform'), publisher, audit, quarantine, logger }),
              functionName: fn.name,
              timeoutSeconds: fn.timeoutSeconds,
            });
            streamPollers.push(
              new StreamPoller({
                dynamodb: clients.dynamodb,
                streams: streamsClient,
                sqs: clients.sqs,
                name: fn.name,
                tableName: fr.sourceTables[sourceId]!,
                region: LOCAL_REGION,
                batchSize: fn.trigger.batchSize,
                timeoutSeconds: fn.timeoutSeconds,
                retryAttempts: fn.trigger.retryAttempts,
                maxRecordAgeSeconds: fn.trigger.maxRecordAgeSeconds,
                bisectBatchOnError: fn.trigger.bisectBatchOnError,
                onFailureQueueUrl: fr.streamFailureQueues[sourceId]!.url,
                handler: wrap(fn, handler),
                log,
              }),
            );
            break;
          }
          case 'schedule-capture': {
            if (fn.trigger.type !== 'schedule') throw new Error(`function ${fn.name} has no schedule trigger`);
            const sourceId = fn.sourceId!;
            const source = flow.sources.find((s): s is ScheduleSource => s.id === sourceId && s.type === 'schedule')!;
            const reader = createPullReader(source, { secrets, s3Client: clients.s3, log: (m, a) => logger.info(m, a) });
            const schedule = new LocalSchedule({
              name: fn.name,
              sourceId,
              every: fn.trigger.every,
              cron: fn.trigger.cron,
              timeoutSeconds: fn.timeoutSeconds,
              log,
              createHandler: (continueSoon) =>
                wrap(
                  fn,
                  createScheduleCaptureHandler({ flow, sourceId, reader, pullState, publisher, transformQueueUrl: queueUrl('transform'), audit, quarantine, logger, continueSoon }),
                ),
            });
            schedules.set(`${flow.id}/${sourceId}`, schedule);
            break;
          }
          case 'conflict-sweep': {
            const sweep = wrap(fn, createConflictSweeper({ flow, resolveQueueUrl: queueUrl('resolve'), conflicts, state: stateStore, publisher, audit, logger }));
            sweeps.push(new LocalTimer({ name: fn.name, everyMs: localSweepEveryMs(flow), run: () => sweep(), log }));
            break;
          }
          default: {
            const never: never = fn.handler;
            throw new RuntimeError(`no local runtime for handler "${String(never)}"`);
          }
        }
      }
    }

    const flowsById = new Map(config.flows.map((f) => [f.id, f]));
    let http: LocalHttpServer | undefined;
    const base = () => http?.url ?? '';
    const depths = new SqsQueueDepths(clients.sqs);
    // The same admin use cases as a flow's admin function in AWS, over the local resources.
    const service = createAdminService({
      flows: topology.flows.map((fp) => ({ plan: fp, resources: localFlowResources(fp, resources, config, webhookSecretGenerated) })),
      baseUrl: base,
      stateStore,
      audit,
      conflicts,
      quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: t.quarantine }),
      publisher,
      depths,
      hashKey,
      logger: localLogPort('admin', log, verbose),
    });
    const admin: LocalAdminApi = {
      ...service,
      endpoints: () => endpoints,
      ...localOnlyRoutes({ flowsById, schedules, backfills, resources, sqs: clients.sqs, depths, eventBus }),
    };

    http = await startHttpServer({ port: options.port ?? 3000, routes, admin, log });
    const httpServer = http;
    for (const p of pollers) p.start();
    for (const p of streamPollers) p.start();
    for (const s of schedules.values()) s.start();
    for (const s of sweeps) s.start();
    // No new requests first, then let the batches in flight finish.
    cleanups.push(async () => {
      await httpServer.stop();
      await Promise.all([...schedules.values()].map((s) => s.stop()));
      await Promise.all(sweeps.map((s) => s.stop()));
      await Promise.all(streamPollers.map((p) => p.stop()));
      await Promise.all(pollers.map((p) => p.stop()));
    });

    // Upstream first: a message moving on while we look is then seen in the next queue.
    const idle = async () => {
      if (httpServer.inFlight > 0) return false;
      for (const s of schedules.values()) if (!s.idle()) return false;
      for (const s of sweeps) if (!s.idle()) return false;
      for (const p of streamPollers) if (!p.idle()) return false;
      for (const p of pollers) if (!(await p.idle())) return false;
      return true;
    };

    return {
      url: httpServer.url,
      port: httpServer.port,
      endpoints,
      webhookSecret,
      webhookSecretGenerated,
      webhooks: webhooks.map((w) => ({ ...w, urls: w.urls.map((u) => httpServer.url + u) })),
      plan: topology,
      resources,
      clients,
      eventBus,
      schedules,
      ...(recovered ? { recovered } : {}),
      idle,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

import type { FlowConfig } from '../../functions/config/schema';
import { namedSecrets } from '../../functions/config/named-secrets';
import { isManualFlow } from '../../functions/plan/flow-traits';
import { conflictEventBus, plan as planTopology, type FunctionPlan } from '../../functions/plan/plan';
import { messageOf } from '../../functions/core/errors';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { DynamoDbStateStore, flowStateOptions } from '../../functions/adapters/dynamodb-state-store';
import { DynamoDbTargetItems, DynamoDbTargetWriter } from '../../functions/adapters/dynamodb-target-writer';
import { EnvSecrets, secretEnvVar } from '../../functions/adapters/env-secrets';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { S3PayloadStore } from '../../functions/adapters/s3-payload-store';
import { withClaimChecks } from '../../functions/handlers/claim-checks';
import { documentClientFor } from '../../functions/adapters/clients';
import { EventBridgeEventPublisher } from '../../functions/adapters/eventbridge-event-publisher';
import type { Secrets } from '../../functions/ports';
import { createLocalClients, LOCAL_REGION, type LocalEndpoints } from './clients';
import { assertPortFree, startHttpServer, type HttpRoute, type LocalAdminApi, type LocalHttpServer } from './http-server';
import { createResources, ensureBucket, LOCAL_PAYLOAD_BUCKET } from './resources';
import { createTargetResources, localTargetWriter } from './target-resources';
import * as wire from '../../functions/wiring/steps';
import type { StepContext } from '../../functions/wiring/step-context';
import { startLocalServers, type LocalServers } from './servers';
import { LocalPersistence, lockPersistFolder, PersistFolderInUseError, type RecoverySummary } from './persistence';
import { pollerAwarePublisher, SqsPoller, type SqsHandler } from './sqs-poller';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { createPullReader } from '../../functions/adapters/pull-readers';
import type { ScheduleSource } from '../../functions/core/pull/records';
import { compileTransform } from '../../functions/core/transform/pipeline';
import { createSqsCaptureHandler } from '../../functions/handlers/sqs-capture-handler';
import { createBackfillHandler } from '../../functions/handlers/backfill-handler';
import { DynamoDbTableScanner } from '../../functions/adapters/dynamodb-table-scanner';
import { localOnlyRoutes, type LocalBackfill } from './local-only-routes';
import { SqsQueueDepths } from '../../functions/adapters/sqs-queue-depths';
import { createAdminService } from '../../functions/handlers/admin-service';
import { busNameOf, LocalEventBus } from './event-bus';
import { LocalSchedule, LocalTimer } from './scheduler';
import { StreamPoller } from './stream-poller';
import { packsTo } from '../../functions/plan/packed-queues';

import {
  checkWebhookSecret,
  generateWebhookSecret,
  hashKeyFor,
  localFlowResources,
  localLogPort,
  localSweepEveryMs,
  RuntimeError,
  sqsConcurrency,
  type HandlerWrapper,
  type Runtime,
  type RuntimeOptions,
  type WebhookEndpoint,
} from './runtime-support';

export { localSweepEveryMs, RuntimeError } from './runtime-support';
export type { HandlerWrapper, Runtime } from './runtime-support';

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
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => log(`[runtime] stop: ${messageOf(err)}`));
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
    const stateStore = new DynamoDbStateStore({ client: doc, tableName: t.state, ...flowStateOptions(config.flows) });
    const retention = (flowId: string) => config.flows.find((f) => f.id === flowId)?.audit.retentionDays ?? 90;
    const audit = new DynamoDbAuditLog({ client: doc, tableName: t.audit, retentionDays: retention });
    const conflicts = new DynamoDbConflictStore({ client: doc, tableName: t.conflicts, retentionDays: retention });
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
      if (count || recovered.objects || recovered.leases || recovered.webhookClaims) {
        log(`[runtime] recovered from ${options.persist}: ${count} queued message(s), ${recovered.objects} object(s), ${recovered.leases} send lease(s) and ${recovered.webhookClaims} unfinished webhook claim(s) let go`);
      }
    }
    // Step queues carry several records to a message, as in AWS.
    const sqsPublisher = new SqsPublisher({ client: clients.sqs, payloads, packs: packsTo(config.flows, (flow, id) => resources.flows[flow.id]?.queues[id]?.url) });
    const held = new Set<string>();
    const publisher = pollerAwarePublisher(sqsPublisher, held);
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

    const routes: HttpRoute[] = [];
    const pollers: SqsPoller[] = [];
    const webhooks: WebhookEndpoint[] = [];
    for (const flowPlan of topology.flows) {
      const flow = flowPlan.flow;
      const fr = resources.flows[flow.id]!;
      const queueUrl = (id: string) => fr.queues[id]!.url;
      // The same wiring as each function's Lambda entry (functions/wiring), over the local servers.
      const stepContext = (fn: FunctionPlan): StepContext => ({ flow, tableName: (table) => t[table], queueUrl, doc, publisher, secrets, logger: localLogPort(fn.name, log, verbose) });
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
            maxConcurrency: sqsConcurrency(fn),
            held,
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
            const handler = wrap(fn, wire.webhookCapture(stepContext(fn), sourceId, secretName));
            const source = flow.sources.find((s) => s.id === sourceId);
            const maxBodyBytes = source?.type === 'webhook' ? source.maxBodyBytes : 1_000_000;
            for (const path of fn.trigger.routes) routes.push({ method: 'POST', path, functionName: fn.name, maxBodyBytes, handler: async (event) => handler(event) });
            webhooks.push({ flowId: flow.id, sourceId, urls: fn.trigger.routes });
            break;
          }
          case 'transform': {
            sqsFunction(fn, wire.transform(stepContext(fn), async () => hashKey));
            break;
          }
          case 'resolve': {
            const deliverQueueUrls = Object.fromEntries(flow.targets.map((target) => [target.id, queueUrl(`deliver-${target.id}`)]));
            const events = isManualFlow(flow) ? conflictEventsOf(flow) : undefined;
            const self = fn.sendsTo.includes('resolve') ? { resolveQueueUrl: queueUrl('resolve') } : {};
            sqsFunction(fn, wire.resolve(stepContext(fn), { deliverQueueUrls, ...(events ? { events } : {}), ...self }));
            break;
          }
          case 'deliver-s3':
          case 'deliver-eventbridge':
          case 'deliver-http':
          case 'deliver-sqs': {
            const dlqUrl = fr.queues[`deliver-${fn.targetId}`]!.dlq.url;
            const writer = localTargetWriter({ fn, flow, resources: targetResources, clients, remoteIds: stateStore, secrets, eventBus: () => eventBus, logger });
            sqsFunction(fn, wire.deliverTarget(stepContext(fn), fn.targetId!, writer, dlqUrl));
            break;
          }
          case 'deliver-dynamodb': {
            const targetId = fn.targetId!;
            const target = flow.targets.find((x) => x.id === targetId);
            if (target?.type !== 'dynamodb') throw new Error(`target "${targetId}" of flow "${flow.id}" is not a dynamodb target`);
            const tableName = fr.targetTables[targetId]!;
            const writer = new DynamoDbTargetWriter({ client: doc, stateTable: t.state, tableName, keyAttribute: target.keyAttribute });
            sqsFunction(fn, wire.deliverDynamoDb(stepContext(fn), targetId, writer, fr.queues[`deliver-${targetId}`]!.dlq.url));
            break;
          }
          case 'sqs-capture': {
            // sqs and eventbridge sources alike: the handler reads an eventbridge source's messages as events.
            sqsFunction(fn, createSqsCaptureHandler(wire.captureDeps(stepContext(fn), fn.sourceId!)));
            break;
          }
          case 'dynamodb-stream-capture': {
            if (fn.trigger.type !== 'dynamodb-stream') throw new Error(`function ${fn.name} has no DynamoDB stream trigger`);
            const sourceId = fn.sourceId!;
            const deps = wire.captureDeps(stepContext(fn), sourceId);
            const handler = wire.streamCapture(deps);
            const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: fr.sourceTables[sourceId]! });
            backfills.set(`${flow.id}/${sourceId}`, {
              handler: createBackfillHandler({ ...deps, scanner }),
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
              createHandler: (continueSoon) => wrap(fn, wire.scheduleCapture(stepContext(fn), sourceId, reader, { continueSoon, hashKey: async () => hashKey })),
            });
            schedules.set(`${flow.id}/${sourceId}`, schedule);
            break;
          }
          case 'conflict-sweep': {
            const sweep = wrap(fn, wire.conflictSweep(stepContext(fn)));
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
      flows: topology.flows.map((fp) => ({ plan: fp, resources: localFlowResources(fp, resources, targetResources.buckets[fp.flow.id] ?? {}, webhookSecretGenerated) })),
      baseUrl: base,
      stateStore,
      targetItems: new DynamoDbTargetItems(
        Object.fromEntries(
          topology.flows.map((fp) => [
            fp.flow.id,
            Object.fromEntries(fp.targetTables.map((tt) => [tt.targetId, { tableName: resources.flows[fp.flow.id]!.targetTables[tt.targetId]!, keyAttribute: tt.keyAttribute, client: doc }])),
          ]),
        ),
      ),
      audit,
      conflicts,
      quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: t.quarantine }),
      publisher,
      depths,
      compileTransform,
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

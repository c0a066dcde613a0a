/**
 * End to end on the local runtime: signed webhooks in, records in the target table out. An SDK middleware on
 * every client the runtime uses counts AWS calls, SQS payload chunks and DynamoDB capacity; a handler wrapper
 * counts Lambda invocations, their durations, and when each key was delivered (measure.ts).
 */
import { randomBytes } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { SynclineConfig } from '../../functions/config/schema';
import { startRuntime, type HandlerWrapper } from '../../lib/local/runtime';
import { CallCounter, measureBurst, countItems, Deliveries, functionStats, timedHandler, type FunctionStats, type RunResult } from './measure';
import { unpackBody } from '../../functions/core/packing';

export type { CommandStats, FunctionStats, TableUnits } from './measure';
export type E2eResult = RunResult;

export interface E2eOptions {
  readonly config: SynclineConfig;
  readonly records?: number;
  readonly recordsPerRequest?: number;
  readonly concurrency?: number;
  /** Give up waiting for deliveries after this long. */
  readonly timeoutMs?: number;
  /** Records sent and delivered before the measurement, to warm up the JVM of DynamoDB Local and the JITs. @default 500 */
  readonly warmupRecords?: number;
}

export async function benchE2e(options: E2eOptions): Promise<E2eResult> {
  const n = options.records ?? 10_000;
  const perRequest = options.recordsPerRequest ?? 100;
  const concurrency = options.concurrency ?? 4;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const flow = options.config.flows[0]!;
  const counter = new CallCounter();
  const functions = new Map<string, FunctionStats>();
  const sentAt = new Map<string, number>();
  const deliveries = new Deliveries();
  const warnings: string[] = [];

  const wrapHandler: HandlerWrapper = (fn, handler) => {
    const stats = functionStats(fn.id, fn.name, fn.memoryMb);
    functions.set(fn.name, stats);
    const wrapped = timedHandler(stats, () => counter.on, handler as (...args: unknown[]) => Promise<unknown>);
    if (fn.step !== 'deliver') return wrapped as typeof handler;
    const deliver = async (...args: unknown[]) => {
      const event = args[0] as SQSEvent;
      const response = (await wrapped(...args)) as SQSBatchResponse | undefined;
      const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      // A message may be a pack of several deliveries (functions/core/packing.ts).
      const keys = event.Records.filter((r) => !failed.has(r.messageId)).flatMap((r) => (unpackBody(r.body) ?? [r.body]).flatMap((b) => (JSON.parse(b) as { key?: string }).key ?? []));
      deliveries.mark(keys);
      return response;
    };
    return deliver as typeof handler;
  };

  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const logs: string[] = [];
  const rt = await startRuntime({
    config: options.config,
    port: 0,
    webhookSecret: secret,
    log: (l) => logs.push(l),
    instrumentClients: (clients) => counter.instrument(clients),
    wrapHandler,
  });
  try {
    const warmup = options.warmupRecords ?? 500;
    const { requests, rejected, sendSeconds, timedOut, firstSend } = await measureBurst({
      url: rt.webhooks.find((w) => w.flowId === flow.id)!.urls[0]!,
      secret,
      records: n,
      perRequest,
      concurrency,
      warmupRecords: warmup,
      timeoutMs,
      counter,
      deliveries,
      sentAt,
      warnings,
    });
    const roles = new Map<string, string>([
      ...Object.entries(rt.resources.tables).map(([role, name]) => [name, role] as [string, string]),
      ...Object.entries(rt.resources.flows).flatMap(([flowId, fr]) => Object.entries(fr.targetTables).map(([id, name]) => [name, `target ${flowId}/${id}`] as [string, string])),
    ]);
    const summary = deliveries.summary('bench-', sentAt, firstSend);

    // After the measurement: did everything settle, and what is in the target table?
    let idleAtEnd = false;
    for (let i = 0; i < 50 && !idleAtEnd; i++) {
      idleAtEnd = await rt.idle();
      if (!idleAtEnd) await new Promise((r) => setTimeout(r, 100));
    }
    const targetItems = await countItems(rt.clients.doc, rt.resources.flows[flow.id]!.targetTables[flow.targets[0]!.id]!);
    // Handler errors and retries (the example flow also warns about its unmasked email on every record: not listed).
    for (const l of logs) if (/ error |failed/.test(l) && warnings.length < 10) warnings.push(l.slice(0, 200));

    return {
      records: n,
      requests,
      recordsPerRequest: perRequest,
      concurrency,
      rejectedRequests: rejected,
      ...summary,
      timedOut,
      sendSeconds,
      commands: [...counter.stats.values()],
      tables: [...counter.tables].map(([name, t]) => ({ name, role: roles.get(name) ?? name, writeUnits: t.write, readUnits: t.read })),
      functions: [...functions.values()].filter((f) => f.invocations > 0),
      targetItems,
      warmupRecords: warmup,
      idleAtEnd,
      warnings,
    };
  } finally {
    await rt.stop();
  }
}

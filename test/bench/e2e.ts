/**
 * End to end on the local runtime: signed webhooks in, records in the target table out. An SDK middleware on
 * every client the runtime uses counts AWS calls, SQS payload chunks and DynamoDB capacity; a handler wrapper
 * counts Lambda invocations, their durations, and when each key was delivered.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { SynclineConfig } from '../../functions/config/schema';
import type { LocalClients } from '../../lib/local/clients';
import { startRuntime, type HandlerWrapper } from '../../lib/local/runtime';
import { signWebhook } from '../../lib/cli/sign';
import { generateContacts } from './records';

/** One SDK command, per client. */
export interface CommandStats {
  client: string;
  command: string;
  calls: number;
  errors: number;
  /** Items written or read (batch and transaction entries, or 1), messages sent/received/deleted. */
  items: number;
  /** SQS: billed requests (each started 64 KB of payload is one request). */
  billedRequests: number;
  /** DynamoDB: capacity units reported by DynamoDB Local (ReturnConsumedCapacity TOTAL). */
  measuredUnits: number;
  /** Calls that carried ConsumedCapacity in their answer. */
  measuredCalls: number;
  /** DynamoDB: write units estimated from the JSON size of what the command writes. */
  estimatedWru: number;
  /** SQS ReceiveMessage answers without messages. */
  empty: number;
  /** Wall time spent in the calls (for ReceiveMessage it includes the long-poll wait). */
  totalMs: number;
  /** Error names and how often each was thrown. */
  errorNames: Record<string, number>;
}

/** Capacity DynamoDB Local reported per table (the table and its indexes). */
export interface TableUnits {
  name: string;
  /** state, audit, ... or target:<id>. */
  role: string;
  writeUnits: number;
  readUnits: number;
}

export interface FunctionStats {
  id: string;
  name: string;
  memoryMb: number;
  invocations: number;
  /** Records (SQS messages) or requests handled. */
  records: number;
  totalMs: number;
  /** Sum of per-invocation GB-seconds, each duration rounded up to 1 ms as Lambda bills. */
  gbSeconds: number;
  durations: number[];
}

export interface E2eResult {
  readonly records: number;
  readonly requests: number;
  readonly recordsPerRequest: number;
  readonly concurrency: number;
  readonly rejectedRequests: number;
  readonly delivered: number;
  readonly timedOut: boolean;
  readonly sendSeconds: number;
  /** Records / (last delivery − first send). */
  readonly recordsPerSecond: number;
  readonly lagMs: { p50: number; p90: number; p99: number; max: number };
  readonly commands: readonly CommandStats[];
  readonly tables: readonly TableUnits[];
  readonly functions: readonly FunctionStats[];
  /** Items in the target table afterwards, warm-up records included. */
  readonly targetItems: number;
  readonly warmupRecords: number;
  readonly idleAtEnd: boolean;
  readonly warnings: readonly string[];
}

const WRITE_COMMANDS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const READ_COMMANDS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const SQS_CHUNK = 64 * 1024;

const jsonBytes = (v: unknown) => (v === undefined ? 0 : Buffer.byteLength(JSON.stringify(v), 'utf8'));
/** Write units of one item of this many bytes: 1 per started KB (at least 1). */
const wru = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** WRUs a write command's input would consume, from the JSON size of the items (transactions count twice). */
function estimateWru(command: string, input: any): number {
  switch (command) {
    case 'PutItem':
      return wru(jsonBytes(input.Item));
    case 'UpdateItem':
      // The item after the update is unknown here: its key plus the values set is a lower bound.
      return wru(jsonBytes(input.Key) + jsonBytes(input.ExpressionAttributeValues));
    case 'DeleteItem':
      return 1;
    case 'BatchWriteItem':
      return Object.values(input.RequestItems ?? {}).reduce<number>(
        (s, reqs) => s + (reqs as any[]).reduce((t, r) => t + (r.PutRequest ? wru(jsonBytes(r.PutRequest.Item)) : 1), 0),
        0,
      );
    case 'TransactWriteItems':
      return (input.TransactItems ?? []).reduce((s: number, t: any) => {
        const bytes = t.Put ? jsonBytes(t.Put.Item) : t.Update ? jsonBytes(t.Update.Key) + jsonBytes(t.Update.ExpressionAttributeValues) : 0;
        return s + 2 * wru(bytes);
      }, 0);
    default:
      return 0;
  }
}

function itemsOf(command: string, input: any, output: any): number {
  switch (command) {
    case 'BatchWriteItem':
    case 'BatchGetItem':
      return Object.values(input.RequestItems ?? {}).reduce<number>((s, r: any) => s + (Array.isArray(r) ? r.length : (r.Keys?.length ?? 0)), 0);
    case 'TransactWriteItems':
    case 'TransactGetItems':
      return input.TransactItems?.length ?? 0;
    case 'SendMessageBatch':
    case 'DeleteMessageBatch':
      return input.Entries?.length ?? 0;
    case 'ReceiveMessage':
      return output?.Messages?.length ?? 0;
    default:
      return 1;
  }
}

/** ConsumedCapacity entries of an answer (one per table), or undefined when there are none. */
function consumed(output: any): { table: string; units: number }[] | undefined {
  const cc = output?.ConsumedCapacity;
  if (cc === undefined) return undefined;
  const list: any[] = Array.isArray(cc) ? cc : [cc];
  return list.map((c) => ({ table: String(c?.TableName ?? '?'), units: Number(c?.CapacityUnits ?? 0) }));
}

/** Counts every SDK command of the runtime's clients while `on` is true. */
export class CallCounter {
  on = false;
  readonly stats = new Map<string, CommandStats>();
  /** Units per table name. */
  readonly tables = new Map<string, { write: number; read: number }>();

  instrument(clients: LocalClients): void {
    // The document client shares the DynamoDB client's middleware stack: instrumenting it too would count twice.
    const stacks = new Set<unknown>([clients.dynamodb.middlewareStack, clients.doc.middlewareStack, clients.sqs.middlewareStack, clients.s3.middlewareStack]);
    for (const stack of stacks as Set<{ add(middleware: unknown, options: unknown): void }>) {
      stack.add((next: any, context: any) => async (args: any) => this.observe(next, context, args), { step: 'initialize', name: 'synclineBenchCounter' });
    }
  }

  private async observe(next: any, context: any, args: any): Promise<any> {
    if (!this.on) return next(args);
    const client = String(context.clientName ?? 'unknown').replace(/Client$/, '');
    const command = String(context.commandName ?? 'unknown').replace(/Command$/, '');
    const key = `${client} ${command}`;
    const s =
      this.stats.get(key) ??
      ({ client, command, calls: 0, errors: 0, items: 0, billedRequests: 0, measuredUnits: 0, measuredCalls: 0, estimatedWru: 0, empty: 0, totalMs: 0, errorNames: {} } satisfies CommandStats);
    this.stats.set(key, s);
    const isDynamo = client === 'DynamoDB' && (WRITE_COMMANDS.has(command) || READ_COMMANDS.has(command));
    // Ask DynamoDB Local for the capacity each call consumed, per table; it changes nothing else in the answer.
    const input = isDynamo && args.input.ReturnConsumedCapacity === undefined ? { ...args.input, ReturnConsumedCapacity: 'INDEXES' } : args.input;
    s.calls++;
    if (WRITE_COMMANDS.has(command) && client === 'DynamoDB') s.estimatedWru += estimateWru(command, input);
    let result: any;
    const t0 = performance.now();
    try {
      result = await next({ ...args, input });
    } catch (err) {
      s.totalMs += performance.now() - t0;
      s.errors++;
      const name = (err as { name?: string })?.name ?? 'Error';
      s.errorNames[name] = (s.errorNames[name] ?? 0) + 1;
      s.items += itemsOf(command, input, undefined);
      if (client === 'SQS') s.billedRequests++;
      throw err;
    }
    s.totalMs += performance.now() - t0;
    const output = result?.output;
    s.items += itemsOf(command, input, output);
    if (isDynamo) {
      const entries = consumed(output);
      if (entries !== undefined) {
        s.measuredCalls++;
        for (const { table, units } of entries) {
          s.measuredUnits += units;
          const t = this.tables.get(table) ?? { write: 0, read: 0 };
          if (WRITE_COMMANDS.has(command)) t.write += units;
          else t.read += units;
          this.tables.set(table, t);
        }
      }
    }
    if (client === 'SQS') {
      let bytes = 0;
      if (command === 'SendMessageBatch') bytes = (input.Entries ?? []).reduce((t: number, e: any) => t + Buffer.byteLength(e.MessageBody ?? '') + jsonBytes(e.MessageAttributes), 0);
      else if (command === 'SendMessage') bytes = Buffer.byteLength(input.MessageBody ?? '') + jsonBytes(input.MessageAttributes);
      else if (command === 'ReceiveMessage') bytes = (output?.Messages ?? []).reduce((t: number, m: any) => t + Buffer.byteLength(m.Body ?? '') + jsonBytes(m.MessageAttributes), 0);
      s.billedRequests += Math.max(1, Math.ceil(bytes / SQS_CHUNK));
      if (command === 'ReceiveMessage' && !(output?.Messages?.length > 0)) s.empty++;
    }
    return result;
  }
}

/** Whether `promise` settled within `ms`; the timer never outlives it. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

const quantile = (sorted: readonly number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);

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
  const deliveredAt = new Map<string, number>();
  const warnings: string[] = [];
  /** Resolves once `count` keys with this prefix are delivered. */
  const waiters: { prefix: string; count: number; resolve: () => void }[] = [];
  const deliveredWith = (prefix: string) => [...deliveredAt.keys()].filter((k) => k.startsWith(prefix)).length;
  const whenDelivered = (prefix: string, count: number) =>
    new Promise<void>((resolve) => (deliveredWith(prefix) >= count ? resolve() : waiters.push({ prefix, count, resolve })));

  const wrapHandler: HandlerWrapper = (fn, handler) => {
    const stats: FunctionStats = { id: fn.id, name: fn.name, memoryMb: fn.memoryMb, invocations: 0, records: 0, totalMs: 0, gbSeconds: 0, durations: [] };
    functions.set(fn.name, stats);
    const wrapped = async (...args: any[]) => {
      const t0 = performance.now();
      try {
        return await handler(...args);
      } finally {
        if (counter.on) {
          const ms = performance.now() - t0;
          stats.invocations++;
          stats.records += (args[0] as Partial<SQSEvent>)?.Records?.length ?? 1;
          stats.totalMs += ms;
          stats.durations.push(ms);
          stats.gbSeconds += (fn.memoryMb / 1024) * (Math.ceil(ms) / 1000);
        }
      }
    };
    if (fn.step !== 'deliver') return wrapped as typeof handler;
    const deliver = async (...args: any[]) => {
      const event = args[0] as SQSEvent;
      const response = (await wrapped(...args)) as SQSBatchResponse | undefined;
      const now = performance.now();
      const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      for (const r of event.Records) {
        if (failed.has(r.messageId)) continue;
        const key = (JSON.parse(r.body) as { key?: string }).key;
        if (key !== undefined && !deliveredAt.has(key)) deliveredAt.set(key, now);
      }
      for (const w of waiters) if (deliveredWith(w.prefix) >= w.count) w.resolve();
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
    const url = rt.webhooks.find((w) => w.flowId === flow.id)!.urls[0]!;
    const bodiesOf = (count: number, idPrefix: string) => {
      const records = generateContacts({ count, seed: 11, startMs: Date.now() - 3_600_000, idPrefix });
      const out: { ids: string[]; raw: string }[] = [];
      for (let i = 0; i < count; i += perRequest) {
        const batch = records.slice(i, i + perRequest);
        out.push({ ids: batch.map((r) => r.contact_id as string), raw: JSON.stringify(batch) });
      }
      return out;
    };
    let rejected = 0;
    const send = async (bodies: { ids: string[]; raw: string }[]) => {
      let next = 0;
      const sender = async () => {
        while (next < bodies.length) {
          const { ids, raw } = bodies[next++]!;
          const headers = signWebhook(secret, `msg_${randomBytes(8).toString('hex')}`, Math.floor(Date.now() / 1000), raw);
          const t = performance.now();
          for (const id of ids) sentAt.set(id, t);
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
          const body = (await res.json().catch(() => ({}))) as { accepted?: number };
          if (res.status !== 202 || body.accepted !== ids.length) {
            rejected++;
            if (warnings.length < 5) warnings.push(`webhook answered ${res.status} ${JSON.stringify(body)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: concurrency }, sender));
    };

    const warmup = options.warmupRecords ?? 500;
    if (warmup > 0) {
      await send(bodiesOf(warmup, 'warmup-'));
      await withTimeout(whenDelivered('warmup-', warmup), 60_000);
      // Let the pollers go back to their idle long polls.
      await new Promise((r) => setTimeout(r, 500));
      rejected = 0;
    }

    const bodies = bodiesOf(n, 'bench-');
    counter.on = true;
    const firstSend = performance.now();
    await send(bodies);
    const sendSeconds = (performance.now() - firstSend) / 1000;

    const timedOut = !(await withTimeout(whenDelivered('bench-', n), timeoutMs));
    // The last batch's DeleteMessageBatch follows the handler.
    await new Promise((r) => setTimeout(r, 300));
    counter.on = false;

    const roles = new Map<string, string>([
      ...Object.entries(rt.resources.tables).map(([role, name]) => [name, role] as [string, string]),
      ...Object.entries(rt.resources.flows).flatMap(([flowId, fr]) => Object.entries(fr.targetTables).map(([id, name]) => [name, `target ${flowId}/${id}`] as [string, string])),
    ]);
    const measured = [...deliveredAt].filter(([k]) => k.startsWith('bench-'));
    const lastDelivery = Math.max(...measured.map(([, at]) => at));
    const lags = measured.map(([k, at]) => at - (sentAt.get(k) ?? firstSend)).sort((a, b) => a - b);

    // After the measurement: did everything settle, and what is in the target table?
    let idleAtEnd = false;
    for (let i = 0; i < 50 && !idleAtEnd; i++) {
      idleAtEnd = await rt.idle();
      if (!idleAtEnd) await new Promise((r) => setTimeout(r, 100));
    }
    const { ScanCommand } = await import('@aws-sdk/lib-dynamodb');
    let targetItems = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows[flow.id]!.targetTables[flow.targets[0]!.id]!, Select: 'COUNT', ExclusiveStartKey: start }));
      targetItems += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    // Handler errors and retries (the example flow also warns about its unmasked email on every record: not listed).
    for (const l of logs) if (/ error |failed/.test(l) && warnings.length < 10) warnings.push(l.slice(0, 200));

    return {
      records: n,
      requests: bodies.length,
      recordsPerRequest: perRequest,
      concurrency,
      rejectedRequests: rejected,
      delivered: measured.length,
      timedOut,
      sendSeconds,
      recordsPerSecond: measured.length / ((lastDelivery - firstSend) / 1000),
      lagMs: { p50: quantile(lags, 0.5), p90: quantile(lags, 0.9), p99: quantile(lags, 0.99), max: lags[lags.length - 1] ?? NaN },
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

/**
 * What the end-to-end benches share: an SDK middleware that counts AWS calls, SQS payload chunks and DynamoDB
 * capacity; a handler wrapper that counts Lambda invocations and durations; signed webhook senders; delivery times.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import type { LocalClients } from '../../lib/local/clients';
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
  /** DynamoDB: capacity units reported by DynamoDB Local (ReturnConsumedCapacity INDEXES). */
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

/** What an end-to-end run measured, from the first webhook sent to the last record delivered. */
export interface RunResult {
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

/**
 * Read units of the items a BatchGetItem asked for and did not find, per table. AWS bills a read of a missing item as
 * a read of a small one (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html:
 * "If you perform a read operation on an item that doesn't exist, DynamoDB will still consume read throughput"), and
 * DynamoDB Local reports them for GetItem but leaves them out of a BatchGetItem's ConsumedCapacity.
 */
function missingBatchReads(input: any, output: any): { table: string; units: number }[] {
  const out: { table: string; units: number }[] = [];
  for (const [table, request] of Object.entries<any>(input?.RequestItems ?? {})) {
    const asked = request?.Keys?.length ?? 0;
    const unprocessed = output?.UnprocessedKeys?.[table]?.Keys?.length ?? 0;
    const found = output?.Responses?.[table]?.length ?? 0;
    const missing = asked - unprocessed - found;
    if (missing > 0) out.push({ table, units: missing * (request?.ConsistentRead ? 1 : 0.5) });
  }
  return out;
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
      const reported = consumed(output);
      const entries = reported && command === 'BatchGetItem' ? [...reported, ...missingBatchReads(input, output)] : reported;
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
export async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

export const quantile = (sorted: readonly number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);

export function functionStats(id: string, name: string, memoryMb: number): FunctionStats {
  return { id, name, memoryMb, invocations: 0, records: 0, totalMs: 0, gbSeconds: 0, durations: [] };
}

/** The handler, timed into `stats` while `on()` is true (records = the SQS batch size, else 1). */
export function timedHandler<A extends unknown[], R>(stats: FunctionStats, on: () => boolean, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const t0 = performance.now();
    try {
      return await handler(...args);
    } finally {
      if (on()) {
        const ms = performance.now() - t0;
        stats.invocations++;
        stats.records += (args[0] as Partial<SQSEvent>)?.Records?.length ?? 1;
        stats.totalMs += ms;
        stats.durations.push(ms);
        stats.gbSeconds += (stats.memoryMb / 1024) * (Math.ceil(ms) / 1000);
      }
    }
  };
}

/** When each key was delivered; waits for a number of keys with a prefix. */
export class Deliveries {
  readonly at = new Map<string, number>();
  private readonly waiters: { prefix: string; count: number; resolve: () => void }[] = [];

  /** Keeps the first delivery time of each key. */
  mark(keys: Iterable<string>, now = performance.now()): void {
    for (const k of keys) if (!this.at.has(k)) this.at.set(k, now);
    for (const w of this.waiters) if (this.count(w.prefix) >= w.count) w.resolve();
  }

  count(prefix: string): number {
    return [...this.at.keys()].filter((k) => k.startsWith(prefix)).length;
  }

  /** Resolves once `count` keys with this prefix are delivered. */
  when(prefix: string, count: number): Promise<void> {
    return new Promise<void>((resolve) => (this.count(prefix) >= count ? resolve() : this.waiters.push({ prefix, count, resolve })));
  }

  /** Delivered count, throughput and lags of the keys with this prefix, measured from their send times. */
  summary(prefix: string, sentAt: ReadonlyMap<string, number>, firstSend: number): Pick<RunResult, 'delivered' | 'recordsPerSecond' | 'lagMs'> {
    const measured = [...this.at].filter(([k]) => k.startsWith(prefix));
    const lastDelivery = Math.max(...measured.map(([, at]) => at));
    const lags = measured.map(([k, at]) => at - (sentAt.get(k) ?? firstSend)).sort((a, b) => a - b);
    return {
      delivered: measured.length,
      recordsPerSecond: measured.length / ((lastDelivery - firstSend) / 1000),
      lagMs: { p50: quantile(lags, 0.5), p90: quantile(lags, 0.9), p99: quantile(lags, 0.99), max: lags[lags.length - 1] ?? NaN },
    };
  }
}

/** One webhook request: a JSON array of contact records and their ids. */
export interface WebhookBody {
  readonly ids: string[];
  readonly raw: string;
}

/** The bench's records (the same for every run), `perRequest` to a webhook request. */
export function webhookBodies(count: number, perRequest: number, idPrefix: string): WebhookBody[] {
  const records = generateContacts({ count, seed: 11, startMs: Date.now() - 3_600_000, idPrefix });
  const out: WebhookBody[] = [];
  for (let i = 0; i < count; i += perRequest) {
    const batch = records.slice(i, i + perRequest);
    out.push({ ids: batch.map((r) => r.contact_id as string), raw: JSON.stringify(batch) });
  }
  return out;
}

export interface SendOptions {
  readonly url: string;
  /** Standard Webhooks signing secret. */
  readonly secret: string;
  readonly bodies: readonly WebhookBody[];
  readonly concurrency: number;
  /** Gets the send time of each record's id. */
  readonly sentAt: Map<string, number>;
  /** A request not answered 202 with every record accepted. */
  readonly onRejected: (status: number, body: unknown) => void;
}

/** Posts the bodies signed, `concurrency` requests at a time, as fast as the answers come. */
export async function sendWebhooks(o: SendOptions): Promise<void> {
  let next = 0;
  const sender = async () => {
    while (next < o.bodies.length) {
      const { ids, raw } = o.bodies[next++]!;
      const headers = signWebhook(o.secret, `msg_${randomBytes(8).toString('hex')}`, Math.floor(Date.now() / 1000), raw);
      const t = performance.now();
      for (const id of ids) o.sentAt.set(id, t);
      const res = await fetch(o.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
      const body = (await res.json().catch(() => ({}))) as { accepted?: number };
      if (res.status !== 202 || body.accepted !== ids.length) o.onRejected(res.status, body);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, sender));
}

export interface BurstOptions {
  readonly url: string;
  readonly secret: string;
  readonly records: number;
  readonly perRequest: number;
  readonly concurrency: number;
  readonly warmupRecords: number;
  readonly timeoutMs: number;
  readonly counter: CallCounter;
  readonly deliveries: Deliveries;
  readonly sentAt: Map<string, number>;
  readonly warnings: string[];
}

/**
 * The measured part of a run, the same for syncline and the peer: warm-up records delivered uncounted, then the
 * burst sent as signed webhooks with the counter on, until every record is delivered or the timeout passes.
 */
export async function measureBurst(o: BurstOptions): Promise<{ requests: number; rejected: number; sendSeconds: number; timedOut: boolean; firstSend: number }> {
  let rejected = 0;
  const send = (bodies: WebhookBody[]) =>
    sendWebhooks({
      url: o.url,
      secret: o.secret,
      bodies,
      concurrency: o.concurrency,
      sentAt: o.sentAt,
      onRejected: (status, body) => {
        rejected++;
        if (o.warnings.length < 5) o.warnings.push(`webhook answered ${status} ${JSON.stringify(body)}`);
      },
    });
  if (o.warmupRecords > 0) {
    await send(webhookBodies(o.warmupRecords, o.perRequest, 'warmup-'));
    await withTimeout(o.deliveries.when('warmup-', o.warmupRecords), 60_000);
    // Let the pollers go back to their idle long polls.
    await new Promise((r) => setTimeout(r, 500));
    rejected = 0;
  }
  const bodies = webhookBodies(o.records, o.perRequest, 'bench-');
  o.counter.on = true;
  const firstSend = performance.now();
  await send(bodies);
  const sendSeconds = (performance.now() - firstSend) / 1000;
  const timedOut = !(await withTimeout(o.deliveries.when('bench-', o.records), o.timeoutMs));
  // The last batch's DeleteMessageBatch follows the handler.
  await new Promise((r) => setTimeout(r, 300));
  o.counter.on = false;
  return { requests: bodies.length, rejected, sendSeconds, timedOut, firstSend };
}

/** Items in a table (a COUNT scan). */
export async function countItems(doc: DynamoDBDocumentClient, tableName: string): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: start }));
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

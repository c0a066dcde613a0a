/** Where a local runtime keeps values it must not keep: every table, later queue, object and log line searched. */
import { inflateRawSync } from 'node:zlib';
import { ListTablesCommand, paginateScan, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListBucketsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalClients } from '../../lib/local/clients';
import { LOCAL_PAYLOAD_BUCKET } from '../../lib/local/resources';
import type { Runtime } from '../../lib/local/runtime';

/** Binary attributes and objects read as text: state and audit keep records as deflated JSON, where a raw value would hide. */
export function readable(v: unknown): unknown {
  if (v instanceof Uint8Array) {
    try {
      return inflateRawSync(v).toString('utf8');
    } catch {
      return Buffer.from(v).toString('utf8');
    }
  }
  if (Array.isArray(v)) return v.map(readable);
  return v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, readable(x)])) : v;
}

export interface RawSearch {
  readonly logs: readonly string[];
  /** The sender's own data (a source table or bucket), where raw values belong. */
  readonly skipTables?: readonly string[];
  readonly skipBuckets?: readonly string[];
}

/**
 * Where `values` are found outside what the guarantee allows: every table, every queue and DLQ but the
 * capture-to-transform queue and its DLQ, every stream failure queue, every object and every log line.
 */
export async function findRawValues(rt: Runtime, values: readonly string[], search: RawSearch): Promise<string[]> {
  const found: string[] = [];
  const look = (where: string, text: string) => values.filter((v) => text.includes(v)).forEach((v) => found.push(`${where}: ${v}`));
  const tables = ((await rt.clients.dynamodb.send(new ListTablesCommand({}))).TableNames ?? []).filter((t) => !search.skipTables?.includes(t));
  // The runtime's own tables at least (state, audit, quarantine, conflicts, dedup), or the search would find nothing.
  if (tables.length < 5) throw new Error(`only ${tables.length} tables to search`);
  for (const table of tables) {
    const items: Record<string, AttributeValue>[] = [];
    for await (const page of paginateScan({ client: rt.clients.dynamodb }, { TableName: table })) items.push(...(page.Items ?? []));
    look(`table ${table}`, JSON.stringify(readable(items)));
  }
  for (const flow of Object.values(rt.resources.flows)) {
    const queues = Object.values(flow.queues).flatMap((q) => (q.id === 'transform' ? [] : [q, q.dlq]));
    for (const q of [...queues, ...Object.values(flow.streamFailureQueues)]) {
      const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }));
      look(`queue ${q.name}`, JSON.stringify(got.Messages ?? []));
    }
  }
  for (const { Name } of (await rt.clients.s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
    if (search.skipBuckets?.includes(Name!)) continue;
    for (const { Key } of (await rt.clients.s3.send(new ListObjectsV2Command({ Bucket: Name }))).Contents ?? []) {
      const body = await (await rt.clients.s3.send(new GetObjectCommand({ Bucket: Name, Key }))).Body!.transformToByteArray();
      look(`object ${Name}/${Key}`, JSON.stringify(readable(body)));
    }
  }
  search.logs.forEach((line, i) => look(`log line ${i}`, line));
  return found;
}

/**
 * An `instrumentClients` option of startRuntime that adds the key of each claim-check object written to `keys`:
 * their consumer deletes them at once, so "none left" means something only once some were written.
 */
export function recordClaimsInto(keys: string[]): (clients: LocalClients) => void {
  return (clients) =>
    clients.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Bucket?: string; Key?: string };
        if (context.commandName === 'PutObjectCommand' && input.Bucket === LOCAL_PAYLOAD_BUCKET) keys.push(input.Key!);
        return next(args);
      },
      { step: 'initialize', name: 'recordClaims' },
    );
}

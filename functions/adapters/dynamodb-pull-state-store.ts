import { BatchWriteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PulledKey, PullRunState, PullStateStore, SeenList } from '../ports';
import { batchGetAll } from './dynamodb-batch-get';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';
import { chunk } from '../core/chunk';
import { errorNameOf } from '../core/error-text';

export interface DynamoDbPullStateStoreOptions {
  readonly client: DynamoDBDocumentClient;
  /** The state table (pk only). */
  readonly tableName: string;
  readonly retry?: RetryOptions;
}

/** Partition keys of pull items; flow ids never start with '~', so they never meet a record's `${flow}#${key}`. */
export const pullPk = {
  run: (flow: string, source: string) => `~pull#${flow}#${source}`,
  key: (flow: string, source: string, key: string) => `~pull#${flow}#${source}#k#${key}`,
  seen: (flow: string, source: string, runId: string, index: number, part = 0) =>
    `~pull#${flow}#${source}#seen#${runId}#${index}${part ? `.${part}` : ''}`,
};

/** Bytes of keys per seen-chunk item, well under the 400 KB item limit. */
const CHUNK_BYTES = 300_000;

/**
 * PullStateStore in the state table:
 * - `~pull#<flow>#<source>`: the run state (`run`) and the lease (`leaseOwner`, `leaseUntil`);
 * - `~pull#<flow>#<source>#k#<key>`: the content hash last sent for a key (`hash`) and its key fields (`kd`, or `ks`
 *   encrypted when the flow masks its key, where `<key>` is an HMAC);
 * - `~pull#<flow>#<source>#seen#<runId>#<n>`: chunk n of the keys a run saw (`keys`, a JSON array; `parts` when split).
 */
export class DynamoDbPullStateStore implements PullStateStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retry: ResolvedRetry;

  constructor(options: DynamoDbPullStateStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.retry = resolveRetry(options.retry);
  }

  async getRun(flow: string, source: string): Promise<PullRunState | undefined> {
    const out = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: pullPk.run(flow, source) }, ConsistentRead: true }));
    return out.Item?.run as PullRunState | undefined;
  }

  async putRun(state: PullRunState): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: pullPk.run(state.flow, state.source) },
        UpdateExpression: 'SET #run = :run',
        ExpressionAttributeNames: { '#run': 'run' },
        ExpressionAttributeValues: { ':run': state },
      }),
    );
  }

  async acquireLease(flow: string, source: string, owner: string, until: number, now: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pullPk.run(flow, source) },
          UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until',
          ConditionExpression: 'attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner, ':until': until, ':now': now },
        }),
      );
      return true;
    } catch (err) {
      if (errorNameOf(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async releaseLease(flow: string, source: string, owner: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pullPk.run(flow, source) },
          UpdateExpression: 'REMOVE leaseOwner, leaseUntil',
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  async getKeys(flow: string, source: string, keys: readonly string[]): Promise<Map<string, PulledKey>> {
    const out = new Map<string, PulledKey>();
    const prefix = pullPk.key(flow, source, '');
    const items = await this.batchGet([...new Set(keys)].map((k) => pullPk.key(flow, source, k)), 100);
    for (const item of items) {
      const stored = item.ks === undefined ? { keyData: (item.kd ?? {}) as Record<string, unknown> } : { sealed: String(item.ks) };
      out.set(String(item.pk).slice(prefix.length), { hash: String(item.hash), ...stored });
    }
    return out;
  }

  async putKeys(flow: string, source: string, entries: readonly (PulledKey & { key: string })[]): Promise<void> {
    const unique = new Map(entries.map((e) => [e.key, e]));
    await this.batchWrite(
      [...unique.values()].map((e) => ({
        PutRequest: { Item: { pk: pullPk.key(flow, source, e.key), hash: e.hash, ...(e.sealed !== undefined ? { ks: e.sealed } : { kd: e.keyData ?? {} }) } },
      })),
    );
  }

  async deleteKeys(flow: string, source: string, keys: readonly string[]): Promise<void> {
    await this.batchWrite([...new Set(keys)].map((k) => ({ DeleteRequest: { Key: { pk: pullPk.key(flow, source, k) } } })));
  }

  async appendSeen(flow: string, source: string, runId: string, index: number, keys: readonly string[]): Promise<void> {
    const parts: string[][] = [[]];
    let bytes = 0;
    for (const k of keys) {
      const size = Buffer.byteLength(k, 'utf8') + 4;
      if (bytes + size > CHUNK_BYTES && parts[parts.length - 1]!.length > 0) {
        parts.push([]);
        bytes = 0;
      }
      parts[parts.length - 1]!.push(k);
      bytes += size;
    }
    await this.batchWrite(
      parts.map((p, i) => ({
        PutRequest: { Item: { pk: pullPk.seen(flow, source, runId, index, i), keys: JSON.stringify(p), ...(i === 0 && parts.length > 1 ? { parts: parts.length } : {}) } },
      })),
    );
  }

  async *readSeen(flow: string, source: string, list: SeenList): AsyncGenerator<readonly string[]> {
    // Ten chunks per read keeps at most a few MB in memory at once.
    for (let start = list.from ?? 0; start < list.chunks; start += 10) {
      const pks = Array.from({ length: Math.min(10, list.chunks - start) }, (_, i) => pullPk.seen(flow, source, list.runId, start + i));
      const items = await this.batchGet(pks, 10);
      for (const item of items) {
        yield JSON.parse(String(item.keys)) as string[];
        const parts = Number(item.parts ?? 1);
        if (parts > 1) {
          const index = Number(String(item.pk).split('#').pop());
          const more = await this.batchGet(Array.from({ length: parts - 1 }, (_, i) => pullPk.seen(flow, source, list.runId, index, i + 1)), 10);
          for (const m of more) yield JSON.parse(String(m.keys)) as string[];
        }
      }
    }
  }

  async dropSeen(flow: string, source: string, list: SeenList): Promise<void> {
    const pks: string[] = [];
    for (let i = list.from ?? 0; i < list.chunks; i++) pks.push(pullPk.seen(flow, source, list.runId, i));
    // Split chunks' extra parts are found by reading their first part.
    for (const part of chunk(pks, 10)) {
      const items = await this.batchGet(part, 10);
      for (const item of items) {
        const parts = Number(item.parts ?? 1);
        const index = Number(String(item.pk).split('#').pop());
        for (let p = 1; p < parts; p++) pks.push(pullPk.seen(flow, source, list.runId, index, p));
      }
    }
    await this.batchWrite(pks.map((pk) => ({ DeleteRequest: { Key: { pk } } })));
  }

  private async batchGet(pks: readonly string[], size: number): Promise<Record<string, unknown>[]> {
    const out = await batchGetAll(this.client, this.tableName, pks.map((pk) => ({ pk })), this.retry, { size });
    // BatchGetItem answers in any order; callers of chunks expect index order.
    const order = new Map(pks.map((pk, i) => [pk, i]));
    return out.sort((a, b) => (order.get(String(a.pk)) ?? 0) - (order.get(String(b.pk)) ?? 0));
  }

  private async batchWrite(requests: readonly Record<string, unknown>[]): Promise<void> {
    for (const part of chunk(requests, 25)) {
      let pending = part;
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > this.retry.maxAttempts) throw new Error(`BatchWriteItem on ${this.tableName}: ${pending.length} requests still unprocessed after ${this.retry.maxAttempts} attempts`);
        if (attempt > 1) await this.retry.sleep(backoffMs(this.retry, attempt - 1));
        // Throttling of the call itself was retried by the SDK client: this loop only retries partial results.
        const result = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending as never } }));
        pending = (result.UnprocessedItems?.[this.tableName] ?? []) as Record<string, unknown>[];
      }
    }
  }
}

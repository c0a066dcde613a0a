import { itemBytes, MAX_ITEM_BYTES } from './dynamodb-item-size';
import { pageOfSorted, queryAll, queryUpTo } from './dynamodb-query';
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { QuarantineCursor, QuarantineItem, QuarantinePage, QuarantineSink, QuarantineStore } from '../ports';
import { QUARANTINE_TIME_INDEX } from '../plan/store-tables';
import { batchGetAll } from './dynamodb-batch-get';
import { batchPutAll } from './dynamodb-batch-write';
import { resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface DynamoDbQuarantineStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Days a quarantined record is kept (TTL). @default 90 */
  readonly retentionDays?: number;
  readonly retry?: RetryOptions;
}

/**
 * The item as it can be stored: a record too large for it (a 4 MB record refused at capture, say) is left out, and
 * the item says so; the reason, the position and lineage stay. Refused whole, it failed the write of its batch-mates.
 */
function fitted(item: QuarantineItem): QuarantineItem {
  const bytes = itemBytes(item);
  if (bytes <= MAX_ITEM_BYTES) return item;
  return { ...item, record: {}, dropped: `the record is not kept: with it the item would be ${Math.ceil(bytes / 1024)} KB, and a quarantine item holds at most 400 KB` };
}

/**
 * QuarantineSink: pk = flow, sk = item id (the envelope id), so quarantining the same event twice
 * (an SQS redelivery) keeps one item. `expiresAt` (epoch seconds) is the TTL.
 */
export class DynamoDbQuarantineSink implements QuarantineSink {
  protected readonly client: DynamoDBDocumentClient;
  protected readonly tableName: string;
  private readonly retentionDays: number;
  protected readonly retry: ResolvedRetry;

  constructor(options: DynamoDbQuarantineStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.retentionDays = options.retentionDays ?? 90;
    this.retry = resolveRetry(options.retry);
  }

  async put(items: readonly QuarantineItem[]): Promise<void> {
    if (items.length === 0) return;
    const rows = items.map(fitted).map((i) => ({
      pk: i.flow,
      sk: i.id,
      ...i,
      expiresAt: Math.floor(i.at / 1000) + this.retentionDays * 86_400,
    }));
    await batchPutAll(this.client, this.tableName, rows, this.retry, (r) => `${r.pk}\u0000${r.sk}`);
  }
}

/** The quarantine as the admin API reads it (the steps only write, through DynamoDbQuarantineSink). */
export class DynamoDbQuarantineStore extends DynamoDbQuarantineSink implements QuarantineStore {

  /**
   * Newest first, one page of the flow's items through the time index. A table created before the index (kept by the
   * local runtime's `--persist`), or one whose index is still being built after an upgrade, is read whole instead.
   */
  async list(flow: string, options: { readonly limit?: number; readonly before?: QuarantineCursor } = {}): Promise<QuarantinePage> {
    const limit = options.limit ?? 100;
    try {
      const page = await queryUpTo(
        this.client,
        {
          TableName: this.tableName,
          IndexName: QUARANTINE_TIME_INDEX,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': flow },
          ScanIndexForward: false,
          ...(options.before ? { ExclusiveStartKey: { pk: flow, sk: options.before.id, at: options.before.at } } : {}),
        },
        limit,
        // Items reach 400 KB: a page reads at most 32 MB, shorter than `limit` then, with `next`.
        32,
      );
      const items = page.items.map(stored);
      const last = items.at(-1);
      return { items, ...(page.lastKey && last ? { next: { at: last.at, id: last.id } } : {}) };
    } catch (err) {
      if (!isIndexUnreadable(err)) throw err;
    }
    const all = (await queryAll(this.client, { TableName: this.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': flow } })).map(stored);
    const { items, more } = pageOfSorted(all, newestFirst, options.before, limit);
    const last = items.at(-1);
    return { items, ...(more && last ? { next: { at: last.at, id: last.id } } : {}) };
  }

  async get(flow: string, ids: readonly string[]): Promise<QuarantineItem[]> {
    const keys = [...new Set(ids)].map((id) => ({ pk: flow, sk: id }));
    // Items reach 400 KB; a BatchGetItem answers at most 16 MB.
    return (await batchGetAll(this.client, this.tableName, keys, this.retry, { size: 40 })).map(stored);
  }

  /** Conditional deletes (`at` unchanged), a few at a time; an item already gone or quarantined again is left alone. */
  async delete(items: readonly Pick<QuarantineItem, 'flow' | 'id' | 'at'>[]): Promise<string[]> {
    const removed: string[] = [];
    const queue = [...items];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        try {
          await this.client.send(
            new DeleteCommand({
              TableName: this.tableName,
              Key: { pk: item.flow, sk: item.id },
              ConditionExpression: '#at = :at',
              ExpressionAttributeNames: { '#at': 'at' },
              ExpressionAttributeValues: { ':at': item.at },
            }),
          );
          removed.push(item.id);
        } catch (err) {
          if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(10, queue.length) }, worker));
    return removed;
  }
}

/** A stored row as the item it holds. */
function stored({ pk: _pk, sk: _sk, expiresAt: _exp, ...rest }: Record<string, unknown>): QuarantineItem {
  return rest as unknown as QuarantineItem;
}

/** The order of the fallback listing: newest first, equal times by id (the time index has equal times in no set order). */
function newestFirst(a: Pick<QuarantineItem, 'at' | 'id'>, b: Pick<QuarantineItem, 'at' | 'id'>): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** DynamoDB's answer for an index the table does not have, or one still backfilling. */
function isIndexUnreadable(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e.name === 'ValidationException' && /specified index|backfilling/i.test(e.message ?? '');
}

import { itemBytes, MAX_ITEM_BYTES } from './dynamodb-item-size';
import { pageOfSorted, queryAll, queryCount, queryUpTo } from './dynamodb-query';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Conflict } from '../core/merge';
import { withoutSideValues } from '../core/merge/resolution';
import type { ConflictPage, ConflictResolution, ConflictStore, StoredConflict } from '../ports';
import { CONFLICT_OPEN_INDEX } from '../plan/store-tables';
import { errorNameOf } from '../core/error-text';

/** What one TransactWriteItems takes. */
const MAX_TRANSACTION_ITEMS = 100;

export interface DynamoDbConflictStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Days a closed (resolved or superseded) conflict is kept (TTL), by flow id; open ones are kept. @default 90 */
  readonly retentionDays?: number | ((flow: string) => number);
}

/**
 * ConflictStore: pk = flow, sk = conflict id. `open` is a conditional put, so re-opening a conflict
 * that exists (open or already resolved) leaves it as it is. Only an open conflict carries `openFlow` (the flow id),
 * so the open listing queries the sparse {@link CONFLICT_OPEN_INDEX} (partition `openFlow`, sort `openedAt`) instead
 * of the whole history of the flow; closing it removes `openFlow` and sets `expiresAt` (epoch seconds, the TTL),
 * reopening does the reverse.
 */
export class DynamoDbConflictStore implements ConflictStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retentionDays: (flow: string) => number;

  constructor(options: DynamoDbConflictStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    const days = options.retentionDays ?? 90;
    this.retentionDays = typeof days === 'function' ? days : () => days;
  }

  private expiresAt(flow: string, closedAt: number): number {
    return Math.floor(closedAt / 1000) + this.retentionDays(flow) * 86_400;
  }

  async open(conflicts: readonly Conflict[], at: number): Promise<string[]> {
    const created = await Promise.all(
      conflicts.map(async (c) => {
        try {
          await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: fitted({ pk: c.flow, sk: c.id, ...c, status: 'open', openedAt: at, openFlow: c.flow }),
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return c.id;
        } catch (err) {
          if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
          return undefined;
        }
      }),
    );
    return [...new Set(created.filter((id): id is string => id !== undefined))];
  }

  async get(flow: string, id: string): Promise<StoredConflict | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: flow, sk: id }, ConsistentRead: true }));
    return Item ? toStored(Item) : undefined;
  }

  async markResolved(flow: string, id: string, r: ConflictResolution, siblings: readonly string[] = []): Promise<boolean> {
    const update = {
      TableName: this.tableName,
      Key: { pk: flow, sk: id },
      UpdateExpression: 'SET #status = :resolved, resolvedAt = :at, resolvedBy = :by, choice = :choice, changeId = :change, expiresAt = :expires REMOVE openFlow',
      ConditionExpression: 'attribute_exists(pk) AND #status = :open',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':resolved': 'resolved',
        ':open': 'open',
        ':at': r.resolvedAt,
        ':by': r.resolvedBy,
        ':choice': keptChoice(r.choice),
        ':change': r.changeId,
        ':expires': this.expiresAt(flow, r.resolvedAt),
      },
    };
    // With siblings, one transaction: a sibling resolved between the caller's read and this write fails it, so two
    // resolutions of one field at the same moment cannot both be sent (the later clock would override the first).
    const others = [...new Set(siblings)].filter((s) => s !== id).slice(0, MAX_TRANSACTION_ITEMS - 1);
    try {
      if (others.length === 0) await this.client.send(new UpdateCommand(update));
      else {
        await this.client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: update },
              ...others.map((sk) => ({
                ConditionCheck: {
                  TableName: this.tableName,
                  Key: { pk: flow, sk },
                  ConditionExpression: 'attribute_not_exists(pk) OR #status <> :resolved',
                  ExpressionAttributeNames: { '#status': 'status' },
                  ExpressionAttributeValues: { ':resolved': 'resolved' },
                },
              })),
            ],
          }),
        );
      }
      return true;
    } catch (err) {
      if (errorNameOf(err) === 'ConditionalCheckFailedException') return false;
      // Cancelled by a condition, or by a concurrent transaction on the same items (the other one wins); a
      // cancellation for another reason (throttling) is an error.
      const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
      if (errorNameOf(err) === 'TransactionCanceledException' && reasons.some((x) => x.Code === 'ConditionalCheckFailed' || x.Code === 'TransactionConflict')) return false;
      throw err;
    }
  }

  async reopen(flow: string, id: string, changeId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: flow, sk: id },
          UpdateExpression: 'SET #status = :open, openFlow = :flow REMOVE resolvedAt, resolvedBy, choice, changeId, expiresAt',
          ConditionExpression: '#status = :resolved AND changeId = :change',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':open': 'open', ':resolved': 'resolved', ':change': changeId, ':flow': flow },
        }),
      );
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  async markSuperseded(flow: string, id: string, at: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: flow, sk: id },
          UpdateExpression: 'SET #status = :superseded, supersededAt = :at, expiresAt = :expires REMOVE openFlow',
          ConditionExpression: 'attribute_exists(pk) AND #status = :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':superseded': 'superseded', ':open': 'open', ':at': at, ':expires': this.expiresAt(flow, at) },
        }),
      );
      return true;
    } catch (err) {
      if (errorNameOf(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  /**
   * Oldest first. Open conflicts come from the sparse index (eventually consistent: every transition is conditional
   * on status, so a conflict closed a moment ago and still listed is refused when acted on), a page of them reading
   * that page only; the others from the flow's partition, read whole (closed ones expire with the audit retention).
   */
  async list(flow: string, status?: 'open' | 'resolved' | 'superseded', page?: ConflictPage): Promise<StoredConflict[]> {
    if (status === 'open' && page) {
      const from = page.from !== undefined && !page.after;
      const { items } = await queryUpTo(
        this.client,
        {
          TableName: this.tableName,
          IndexName: CONFLICT_OPEN_INDEX,
          KeyConditionExpression: from ? 'openFlow = :flow AND openedAt >= :from' : 'openFlow = :flow',
          ExpressionAttributeValues: { ':flow': flow, ...(from ? { ':from': page.from } : {}) },
          ...(page.after ? { ExclusiveStartKey: { openFlow: flow, openedAt: page.after.openedAt, pk: flow, sk: page.after.id } } : {}),
        },
        page.limit,
      );
      return items.map(toStored);
    }
    const items =
      status === 'open'
        ? await queryAll(this.client, { TableName: this.tableName, IndexName: CONFLICT_OPEN_INDEX, KeyConditionExpression: 'openFlow = :flow', ExpressionAttributeValues: { ':flow': flow } })
        : await queryAll(this.client, {
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ...(status ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } } : {}),
            ExpressionAttributeValues: { ':pk': flow, ...(status ? { ':status': status } : {}) },
          });
    const all = items.map(toStored).filter((c) => page?.from === undefined || c.openedAt >= page.from);
    return page ? pageOfSorted(all, oldestFirst, page.after, page.limit).items : all.sort(oldestFirst);
  }

  async countOpen(flow: string, stop?: () => boolean): Promise<number | undefined> {
    return queryCount(this.client, { TableName: this.tableName, IndexName: CONFLICT_OPEN_INDEX, KeyConditionExpression: 'openFlow = :flow', ExpressionAttributeValues: { ':flow': flow } }, stop);
  }
}

/**
 * The item as it can be stored: values too large for one item (a conflict over a 250 KB field, say) are left out,
 * and the item says so; the record's state holds them, and a resolution reads them from there. Refused whole, the
 * conflict was never listed, and every later change of its key failed.
 */
function fitted<T extends Record<string, unknown> & Conflict>(item: T): T {
  const bytes = itemBytes(item);
  if (bytes <= MAX_ITEM_BYTES) return item;
  return withoutSideValues(item, `values not kept: with them the conflict would be ${Math.ceil(bytes / 1024)} KB, and an item holds at most 400 KB; resolving it reads them from the record`);
}

/** A given value past this is not kept on the conflict: the item may already be near 400 KB, and the change carries it. */
const MAX_KEPT_VALUE_BYTES = 8 * 1024;

/** The choice as the conflict keeps it (shown in listings only): a large given value is replaced by a note of its size. */
function keptChoice(choice: ConflictResolution['choice']): Record<string, unknown> {
  if (!('value' in choice)) return choice;
  const bytes = itemBytes(choice.value);
  return bytes <= MAX_KEPT_VALUE_BYTES ? choice : { omitted: `a given value of ${Math.ceil(bytes / 1024)} KB, not kept here: the resolution's change carries it` };
}

/** The order of listings read whole: by opening time, equal times by id (the open index has them in no set order). */
function oldestFirst(a: Pick<StoredConflict, 'openedAt' | 'id'>, b: Pick<StoredConflict, 'openedAt' | 'id'>): number {
  return a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The conflict of an item, without its keys, index attribute and TTL. */
function toStored({ pk: _pk, sk: _sk, openFlow: _open, expiresAt: _exp, ...rest }: Record<string, unknown>): StoredConflict {
  return rest as unknown as StoredConflict;
}

import { queryAll } from './dynamodb-query';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Conflict } from '../core/merge';
import type { ConflictResolution, ConflictStore, StoredConflict } from '../ports';
import { errorName } from './retry';

export interface DynamoDbConflictStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/**
 * ConflictStore: pk = flow, sk = conflict id. `open` is a conditional put, so re-opening a conflict
 * that exists (open or already resolved) leaves it as it is.
 */
export class DynamoDbConflictStore implements ConflictStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;

  constructor(options: DynamoDbConflictStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
  }

  async open(conflicts: readonly Conflict[], at: number): Promise<string[]> {
    const created = await Promise.all(
      conflicts.map(async (c) => {
        try {
          await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { pk: c.flow, sk: c.id, ...c, status: 'open', openedAt: at },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return c.id;
        } catch (err) {
          if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
          return undefined;
        }
      }),
    );
    return [...new Set(created.filter((id): id is string => id !== undefined))];
  }

  async get(flow: string, id: string): Promise<StoredConflict | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: flow, sk: id }, ConsistentRead: true }));
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...rest } = Item;
    return rest as StoredConflict;
  }

  async markResolved(flow: string, id: string, r: ConflictResolution): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: flow, sk: id },
          UpdateExpression: 'SET #status = :resolved, resolvedAt = :at, resolvedBy = :by, choice = :choice, changeId = :change',
          ConditionExpression: 'attribute_exists(pk) AND #status = :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':resolved': 'resolved', ':open': 'open', ':at': r.resolvedAt, ':by': r.resolvedBy, ':choice': r.choice, ':change': r.changeId },
        }),
      );
      return true;
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async reopen(flow: string, id: string, changeId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: flow, sk: id },
          UpdateExpression: 'SET #status = :open REMOVE resolvedAt, resolvedBy, choice, changeId',
          ConditionExpression: '#status = :resolved AND changeId = :change',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':open': 'open', ':resolved': 'resolved', ':change': changeId },
        }),
      );
    } catch (err) {
      if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  async markSuperseded(flow: string, id: string, at: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: flow, sk: id },
          UpdateExpression: 'SET #status = :superseded, supersededAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND #status = :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':superseded': 'superseded', ':open': 'open', ':at': at },
        }),
      );
      return true;
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async list(flow: string, status?: 'open' | 'resolved' | 'superseded'): Promise<StoredConflict[]> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ...(status ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } } : {}),
      ExpressionAttributeValues: { ':pk': flow, ...(status ? { ':status': status } : {}) },
    });
    return items
      .map(({ pk: _pk, sk: _sk, ...rest }) => rest as unknown as StoredConflict)
      .sort((a, b) => a.openedAt - b.openedAt);
  }

}

import { queryAll } from './dynamodb-query';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Conflict } from '../core/merge';
import type { ConflictStore } from '../ports';
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

  async open(conflicts: readonly Conflict[], at: number): Promise<void> {
    await Promise.all(
      conflicts.map(async (c) => {
        try {
          await this.client.send(
            new PutCommand({
              TableName: this.tableName,
              Item: { pk: c.flow, sk: c.id, ...c, status: 'open', openedAt: at },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
        } catch (err) {
          if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
        }
      }),
    );
  }

  async list(flow: string, status?: 'open' | 'resolved'): Promise<(Conflict & { status: string; openedAt: number })[]> {
    const items = await queryAll(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ...(status ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } } : {}),
      ExpressionAttributeValues: { ':pk': flow, ...(status ? { ':status': status } : {}) },
    });
    return items
      .map(({ pk: _pk, sk: _sk, ...rest }) => rest as unknown as Conflict & { status: string; openedAt: number })
      .sort((a, b) => a.openedAt - b.openedAt);
  }

}

import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock, DedupRelease, DedupStore } from '../ports';
import { systemClock } from '../ports';
import { errorName } from './retry';

export interface DynamoDbDedupStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock?: Clock;
}

/**
 * DedupStore: pk = `${scope}#${id}`, `expiresAt` (epoch seconds) as TTL. A claim is a conditional put;
 * an expired item that TTL has not removed yet counts as absent.
 */
export class DynamoDbDedupStore implements DedupStore, DedupRelease {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly clock: Clock;

  constructor(options: DynamoDbDedupStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.clock = options.clock ?? systemClock;
  }

  async claim(scope: string, id: string, ttlSeconds: number): Promise<boolean> {
    const now = Math.floor(this.clock.now() / 1000);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `${scope}#${id}`, expiresAt: now + ttlSeconds },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return true;
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async release(scope: string, id: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: `${scope}#${id}` } }));
  }
}

import { DeleteCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock, DedupRelease, DedupStore } from '../ports';
import { systemClock } from '../ports';
import { conditionFailedItem } from './dynamodb-condition';
import { errorNameOf } from '../core/error-text';

export interface DynamoDbDedupStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock?: Clock;
}

/**
 * DedupStore: pk = `${scope}#${id}`, `expiresAt` (epoch seconds) as TTL, `pending` until confirmed. A claim is a
 * conditional put; an expired item that TTL has not removed yet counts as absent.
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

  async claim(scope: string, id: string, pendingSeconds: number): Promise<'claimed' | 'pending' | 'duplicate'> {
    const now = this.seconds();
    const pk = `${scope}#${id}`;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk, expiresAt: now + pendingSeconds, pending: true },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': now },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      const old = await conditionFailedItem(err, this.client, this.tableName, { pk });
      return old?.pending === true ? 'pending' : 'duplicate';
    }
  }

  async confirm(scope: string, id: string, ttlSeconds: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `${scope}#${id}` },
        UpdateExpression: 'SET expiresAt = :e REMOVE pending',
        ExpressionAttributeValues: { ':e': this.seconds() + ttlSeconds },
      }),
    );
  }

  async release(scope: string, id: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: `${scope}#${id}` } }));
  }

  private seconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}

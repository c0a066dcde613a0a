import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock, DedupRelease, DedupStore } from '../ports';
import { systemClock } from '../ports';
import { conditionFailedItem } from './dynamodb-condition';
import { errorNameOf } from '../core/error-text';

/** Stripe retries a failed delivery for up to three days; a released claim keeps its first arrival that long. */
const RELEASED_KEEP_SECONDS = 3 * 86_400;

/**
 * The update that releases a pending claim (`now` in epoch seconds), kept three days past its own expiry, which TTL
 * would soon act on, first arrival and all. Only a claim still pending: one another request took over, or confirmed,
 * stays as it is.
 */
export const releasedClaim = (tableName: string, pk: string, now: number) => ({
  TableName: tableName,
  Key: { pk },
  UpdateExpression: 'SET released = :t, expiresAt = :e REMOVE pending',
  ConditionExpression: 'pending = :t',
  ExpressionAttributeValues: { ':t': true, ':e': now + RELEASED_KEEP_SECONDS },
});

export interface DynamoDbDedupStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock?: Clock;
}

/**
 * DedupStore: pk = `${scope}#${id}`, `expiresAt` (epoch seconds) as TTL, `pending` until confirmed. A claim is a
 * conditional write; an expired item that TTL has not removed yet counts as absent, and so does a released one.
 * `firstAt` (ms) is when the delivery first arrived: a pending or released claim keeps it for the sender's retry, so
 * the retry's records order as the first capture's did; a confirmed claim drops it, as a later use of the id is new.
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

  async claim(scope: string, id: string, pendingSeconds: number): Promise<{ readonly firstAt: number } | 'pending' | 'duplicate'> {
    const now = this.seconds();
    const pk = `${scope}#${id}`;
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk },
          UpdateExpression: 'SET expiresAt = :e, pending = :t, firstAt = if_not_exists(firstAt, :ms) REMOVE released',
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR released = :t',
          ExpressionAttributeValues: { ':e': now + pendingSeconds, ':t': true, ':ms': this.clock.now(), ':now': now },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const firstAt = out.Attributes?.firstAt;
      return { firstAt: typeof firstAt === 'number' ? firstAt : this.clock.now() };
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
        UpdateExpression: 'SET expiresAt = :e REMOVE pending, firstAt',
        ExpressionAttributeValues: { ':e': this.seconds() + ttlSeconds },
      }),
    );
  }

  /** Lets the sender's retry be taken at once, keeping when the delivery first arrived (for as long as senders retry). */
  async release(scope: string, id: string): Promise<void> {
    try {
      await this.client.send(new UpdateCommand(releasedClaim(this.tableName, `${scope}#${id}`, this.seconds())));
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  private seconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}

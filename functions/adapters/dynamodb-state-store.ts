import { BatchGetCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { VersionConflictError, type StateStore, type StoredState } from '../ports';
import { backoffMs, chunk, errorName, isRetryable, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface DynamoDbStateStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly retry?: RetryOptions;
}

/** Partition key of one (flow, key) state item. */
export const statePk = (flow: string, key: string): string => `${flow}#${key}`;

/**
 * StateStore on one DynamoDB table keyed by `pk` = `${flow}#${key}`.
 * Item: { pk, flow, key, version, doc, view, delivered: { [target]: { version, hash } }, updatedAt }.
 * `put` never touches `delivered`: only deliveries move it, so a resolve cannot roll it back.
 */
export class DynamoDbStateStore implements StateStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retry: ResolvedRetry;

  constructor(options: DynamoDbStateStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.retry = resolveRetry(options.retry);
  }

  async getMany(flow: string, keys: readonly string[]): Promise<Map<string, StoredState>> {
    const out = new Map<string, StoredState>();
    const unique = [...new Set(keys)];
    for (const part of chunk(unique, 100)) {
      let pending: Record<string, unknown>[] = part.map((key) => ({ pk: statePk(flow, key) }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > this.retry.maxAttempts) throw new Error(`BatchGetItem on ${this.tableName}: ${pending.length} keys still unprocessed after ${this.retry.maxAttempts} attempts`);
        if (attempt > 1) await this.retry.sleep(backoffMs(this.retry, attempt - 1));
        let result;
        try {
          result = await this.client.send(
            new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
          );
        } catch (err) {
          if (isRetryable(err) && attempt < this.retry.maxAttempts) continue;
          throw err;
        }
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const state = fromItem(item);
          out.set(state.key, state);
        }
        pending = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return out;
  }

  async get(flow: string, key: string): Promise<StoredState | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: statePk(flow, key) }, ConsistentRead: true }),
    );
    return result.Item ? fromItem(result.Item) : undefined;
  }

  async put(state: StoredState, expectedVersion: number): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: statePk(state.flow, state.key) },
          UpdateExpression:
            'SET #flow = :flow, #key = :key, #version = :version, #doc = :doc, #view = :view, #updatedAt = :updatedAt, #delivered = if_not_exists(#delivered, :delivered)',
          ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : '#version = :expected',
          ExpressionAttributeNames: {
            '#flow': 'flow',
            '#key': 'key',
            '#version': 'version',
            '#doc': 'doc',
            '#view': 'view',
            '#updatedAt': 'updatedAt',
            '#delivered': 'delivered',
          },
          ExpressionAttributeValues: {
            ':flow': state.flow,
            ':key': state.key,
            ':version': state.version,
            ':doc': state.doc,
            ':view': state.view,
            ':updatedAt': state.updatedAt,
            ':delivered': state.delivered ?? {},
            ...(expectedVersion === 0 ? {} : { ':expected': expectedVersion }),
          },
        }),
      );
    } catch (err) {
      if (errorName(err) === 'ConditionalCheckFailedException') throw new VersionConflictError(state.flow, state.key);
      throw err;
    }
  }

  async markDelivered(flow: string, key: string, targetId: string, version: number, hash: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: statePk(flow, key) },
          UpdateExpression: 'SET #delivered.#t = :d',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#delivered.#t) OR #delivered.#t.#version < :v)',
          ExpressionAttributeNames: { '#delivered': 'delivered', '#t': targetId, '#version': 'version' },
          ExpressionAttributeValues: { ':d': { version, hash }, ':v': version },
        }),
      );
    } catch (err) {
      // A newer (or the same) delivery is already recorded: nothing to do.
      if (errorName(err) === 'ConditionalCheckFailedException') return;
      throw err;
    }
  }
}

function fromItem(item: Record<string, unknown>): StoredState {
  return {
    flow: item.flow as string,
    key: item.key as string,
    version: Number(item.version),
    doc: item.doc as StoredState['doc'],
    view: item.view as StoredState['view'],
    delivered: (item.delivered ?? {}) as StoredState['delivered'],
    updatedAt: Number(item.updatedAt ?? 0),
  };
}

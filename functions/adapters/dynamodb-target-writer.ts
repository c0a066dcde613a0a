import { TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { contentHash } from '../core/envelope';
import type { TargetWrite, TargetWriter } from '../ports';
import { statePk } from './dynamodb-state-store';
import { errorName } from './retry';

/** Attribute of a target item holding syncline's origin marker. */
export const MARKER_ATTRIBUTE = '_syncline';

export interface DynamoDbTargetWriterOptions {
  readonly client: DynamoDBDocumentClient;
  /** The store's state table, where the delivered version per target is recorded. */
  readonly stateTable: string;
  /** The target table (name or ARN). */
  readonly tableName: string;
  /** Partition key attribute of the target table. */
  readonly keyAttribute: string;
  /**
   * Whether an existing item without a marker (written outside syncline) may be overwritten.
   * Leave false when the table is also a source of the flow: such an item changed outside syncline
   * and comes back through the source to be merged.
   * @default true
   */
  readonly overwriteUnmarked?: boolean;
}

/**
 * Delivers the current state of a key to a DynamoDB table. One TransactWriteItems moves the state's
 * delivered version for the target and writes (or deletes) the item, each conditional on the version
 * being newer, so a target never goes backwards even when a delete races an older upsert.
 */
export class DynamoDbTargetWriter implements TargetWriter {
  private readonly client: DynamoDBDocumentClient;
  private readonly stateTable: string;
  private readonly tableName: string;
  private readonly keyAttribute: string;
  private readonly overwriteUnmarked: boolean;

  constructor(options: DynamoDbTargetWriterOptions) {
    this.client = options.client;
    this.stateTable = options.stateTable;
    this.tableName = options.tableName;
    this.keyAttribute = options.keyAttribute;
    this.overwriteUnmarked = options.overwriteUnmarked ?? true;
  }

  async write(change: TargetWrite): Promise<'written' | 'skipped'> {
    const { flow, key, targetId, version, view, ts } = change;
    const item = view.data ? { ...view.data, [this.keyAttribute]: key } : undefined;
    // `item` lets a stream capture tell syncline's own write (content unchanged) from a later edit that kept the marker.
    const marker = { flow, target: targetId, version, hash: view.hash, item: contentHash(item), ts };
    const newer = this.overwriteUnmarked
      ? 'attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver < :v'
      : 'attribute_not_exists(#k) OR #s.#ver < :v';
    const names = { '#k': this.keyAttribute, '#s': MARKER_ATTRIBUTE, '#ver': 'version' };
    const targetItem = view.deleted || !view.data
      ? {
          Delete: {
            TableName: this.tableName,
            Key: { [this.keyAttribute]: key },
            ConditionExpression: newer,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':v': version },
          },
        }
      : {
          Put: {
            TableName: this.tableName,
            Item: { ...item, [MARKER_ATTRIBUTE]: marker },
            ConditionExpression: newer,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':v': version },
          },
        };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.stateTable,
                Key: { pk: statePk(flow, key) },
                UpdateExpression: 'SET #d.#t = :d',
                ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#d.#t) OR #d.#t.#ver < :v)',
                ExpressionAttributeNames: { '#d': 'delivered', '#t': targetId, '#ver': 'version' },
                ExpressionAttributeValues: { ':d': { version, hash: view.hash }, ':v': version },
              },
            },
            targetItem,
          ],
        }),
      );
      return 'written';
    } catch (err) {
      if (isStaleWrite(err)) return 'skipped';
      throw err;
    }
  }
}

/** A cancelled transaction whose only failures are version conditions: already delivered or newer there. */
function isStaleWrite(err: unknown): boolean {
  if (errorName(err) !== 'TransactionCanceledException') return false;
  const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  const codes = reasons.map((r) => r.Code ?? 'None').filter((c) => c !== 'None');
  return codes.length > 0 && codes.every((c) => c === 'ConditionalCheckFailed');
}

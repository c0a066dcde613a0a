import { TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { contentHash } from '../core/envelope';
import type { TargetWrite, TargetWriter } from '../ports';
import { deliveredUpdate } from './dynamodb-state-store';
import { errorName } from './retry';

/** Attribute of a target item holding syncline's origin marker. */
export const MARKER_ATTRIBUTE = '_syncline';

export interface DynamoDbTargetWriterOptions {
  readonly client: DynamoDBDocumentClient;
  /** The store's state table, where the delivered version per target is recorded (in its own small item). */
  readonly stateTable: string;
  /** The target table (name or ARN). */
  readonly tableName: string;
  /** Partition key attribute of the target table. */
  readonly keyAttribute: string;
}

/**
 * Delivers the current state of a key to a DynamoDB table. One TransactWriteItems moves the target's
 * delivered marker item in the state table (not the state item itself) and writes (or deletes) the item,
 * each conditional on the version being newer, so a target never goes backwards even when a delete races
 * an older upsert.
 *
 * An existing item without a `_syncline` marker (written outside syncline) is overwritten. When the table is
 * also a stream source of the flow, that outside write is already in the stream with its own image: it is
 * captured and merged with its own clock, and comes back here as part of the merged state, so nothing is lost
 * and the tables converge (refusing to overwrite it would leave them apart for good).
 */
export class DynamoDbTargetWriter implements TargetWriter {
  private readonly client: DynamoDBDocumentClient;
  private readonly stateTable: string;
  private readonly tableName: string;
  private readonly keyAttribute: string;

  constructor(options: DynamoDbTargetWriterOptions) {
    this.client = options.client;
    this.stateTable = options.stateTable;
    this.tableName = options.tableName;
    this.keyAttribute = options.keyAttribute;
  }

  async write(change: TargetWrite): Promise<'written' | 'skipped'> {
    const { flow, key, targetId, version, view, ts, clock, replay } = change;
    const item = view.data ? { ...view.data, [this.keyAttribute]: key } : undefined;
    // `item` lets a stream capture tell syncline's own write (content unchanged) from a later edit that kept the marker.
    // `seq`/`id` (the winning change's tie-breakers) let a flow capturing this item back give it the original clock.
    const marker = { flow, target: targetId, version, hash: view.hash, item: contentHash(item), ts, ...(clock ? { seq: clock.seq, id: clock.id } : {}) };
    // Absent, unmarked (written outside syncline) or marked with an older version.
    // A replay writes the version the target has again, never an older one.
    const newer = `attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver ${replay ? '<=' : '<'} :v`;
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
            { Update: deliveredUpdate(this.stateTable, flow, targetId, key, version, view.hash, replay) },
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

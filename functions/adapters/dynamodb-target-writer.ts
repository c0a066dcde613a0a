import { DeleteCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { contentHash } from '../core/envelope';
import type { TargetWrite, TargetWriter } from '../ports';
import { deliveredUpdate } from './dynamodb-state-store';
import { errorName } from './retry';

/** Attribute of a target item holding syncline's origin marker. */
export const MARKER_ATTRIBUTE = '_syncline';

export interface DynamoDbTargetWriterOptions {
  /** Client of the store's state table. */
  readonly client: DynamoDBDocumentClient;
  /**
   * Client of the target table, in that table's region (a table given by ARN may be in another region or account).
   * @default client
   */
  readonly targetClient?: DynamoDBDocumentClient;
  /** The store's state table, where the delivered version per target is recorded (in its own small item). */
  readonly stateTable: string;
  /** The target table (name, or ARN for a table of another account or region). */
  readonly tableName: string;
  /** Partition key attribute of the target table. */
  readonly keyAttribute: string;
}

/**
 * Delivers the current state of a key to a DynamoDB table: a plain write of the target item, conditional on the
 * version in its `_syncline` marker being older, then the target's delivered marker item in the state table (not
 * the state item itself). No transaction spans the two, since a target table may live in another account or
 * region, where a transaction with syncline's own tables cannot reach.
 *
 * A target never goes backwards: an upsert or delete of an older version fails its condition against a marked item.
 * One race is left without a transaction: a newer delete removes the item (and its marker) while an older upsert is
 * in flight, which then finds no item and writes. The delivered marker catches it: recording an older version than
 * the one already recorded means a newer delivery went first, so the writer deletes the item it just wrote (only
 * while it still holds its own version) and reports the delivery as skipped.
 *
 * An existing item without a marker (written outside syncline) is overwritten. When the table is also a stream
 * source of the flow, that outside write is already in the stream with its own image: it is captured and merged
 * with its own clock, and comes back here as part of the merged state, so nothing is lost and the tables converge.
 */
export class DynamoDbTargetWriter implements TargetWriter {
  private readonly client: DynamoDBDocumentClient;
  private readonly targetClient: DynamoDBDocumentClient;
  private readonly stateTable: string;
  private readonly tableName: string;
  private readonly keyAttribute: string;

  constructor(options: DynamoDbTargetWriterOptions) {
    this.client = options.client;
    this.targetClient = options.targetClient ?? options.client;
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
    const condition = {
      // A replay writes the version the target has again, never an older one.
      ConditionExpression: `attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver ${replay ? '<=' : '<'} :v`,
      ExpressionAttributeNames: { '#k': this.keyAttribute, '#s': MARKER_ATTRIBUTE, '#ver': 'version' },
      ExpressionAttributeValues: { ':v': version },
    };
    let written = true;
    try {
      if (view.deleted || !item) await this.targetClient.send(new DeleteCommand({ TableName: this.tableName, Key: { [this.keyAttribute]: key }, ...condition }));
      else await this.targetClient.send(new PutCommand({ TableName: this.tableName, Item: { ...item, [MARKER_ATTRIBUTE]: marker }, ...condition }));
    } catch (err) {
      // The target already has this version or a newer one.
      if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
      written = false;
    }
    // Recorded even when the target already had it: a retry after a lost marker update still records it.
    const recorded = await this.recordDelivered(change, view.hash);
    if (written && recorded !== undefined && recorded > version) {
      await this.undo(key, version);
      return 'skipped';
    }
    return written ? 'written' : 'skipped';
  }

  /**
   * Takes back an item this delivery wrote after a newer delivery had already deleted it: deletes it only while it
   * still carries this delivery's version (a newer write since then stays).
   */
  private async undo(key: string, version: number): Promise<void> {
    try {
      await this.targetClient.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [this.keyAttribute]: key },
          ConditionExpression: '#s.#ver = :v',
          ExpressionAttributeNames: { '#s': MARKER_ATTRIBUTE, '#ver': 'version' },
          ExpressionAttributeValues: { ':v': version },
        }),
      );
    } catch (err) {
      if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  /** Moves the delivered marker up to `version`; answers the newer version already recorded, if any. */
  private async recordDelivered(change: TargetWrite, hash: string): Promise<number | undefined> {
    const { flow, targetId, key, version, replay, note } = change;
    try {
      await this.client.send(new UpdateCommand({ ...deliveredUpdate(this.stateTable, flow, targetId, key, version, hash, replay, note), ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
      return undefined;
    } catch (err) {
      if (errorName(err) !== 'ConditionalCheckFailedException') throw err;
      const old = (err as { Item?: Record<string, unknown> }).Item;
      return typeof old?.version === 'number' ? old.version : Number((old?.version as { N?: string } | undefined)?.N ?? version);
    }
  }
}

import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ORIGIN_MARKER_ATTRIBUTE, readMarker } from '../core/capture/dynamodb-stream';
import { contentHash } from '../core/envelope';
import type { LogPort, StoredState, TargetItemMarkers, TargetWrite, TargetWriter } from '../ports';
import { batchGetAll } from './dynamodb-batch-get';
import { deliveredPk, deliveredUpdate } from './dynamodb-state-store';
import { resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';
import { AfterWriteReads } from './after-write-reads';
import { errorNameOf } from '../core/error-text';

/** Attribute of a target item holding syncline's origin marker (the one a stream capture reads). */
export const MARKER_ATTRIBUTE = ORIGIN_MARKER_ATTRIBUTE;

export interface DynamoDbTargetWriterOptions {
  /** Client of the store's state table. */
  readonly client: DynamoDBDocumentClient;
  /**
   * Client of the target table, in that table's region (a table given by ARN may be in another region or account).
   * @default client
   */
  readonly targetClient?: DynamoDBDocumentClient;
  /** The store's state table, where a delete records its version first (the target's tombstone). */
  readonly stateTable: string;
  /** The target table (name, or ARN for a table of another account or region). */
  readonly tableName: string;
  /** Partition key attribute of the target table. */
  readonly keyAttribute: string;
  /** Backoff of tombstone reads that DynamoDB left unprocessed. */
  readonly retry?: RetryOptions;
}

/** Event ids a target item's marker keeps of a delivery, for lineage (the first ones of a coalesced group). */
const NOTED_EVENT_IDS = 3;

/**
 * Delivers the current state of a key to a DynamoDB table with one plain write, conditional on the version in the
 * item's `_syncline` marker being older: an upsert or delete of an older version fails its condition against a
 * marked item, so the target never goes backwards. The marker on the item is the delivery's record (version, hash,
 * when and which changes, for lineage and echo detection); no item of syncline's own tables is written per upsert.
 *
 * One race is left by a conditional write alone: a newer delete removes the item (and its marker) while an older
 * upsert is in flight, which then finds no item and writes. A delete therefore first records its version in the
 * target's tombstone (the delivered marker item of the state table), then deletes; an upsert that found no item
 * reads that tombstone (strongly consistent) and, when a newer delete is recorded, takes its write back (only while
 * the item still holds its own version). An upsert that replaced an item needs no read: a delete racing it finds
 * the item and is decided by the version condition. The read costs only writes that create an item, and the writes
 * of one delivery batch that create items share one BatchGetItem (AfterWriteReads).
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
  private readonly retry: ResolvedRetry;
  private readonly tombstones: AfterWriteReads<number>;

  constructor(options: DynamoDbTargetWriterOptions) {
    this.client = options.client;
    this.targetClient = options.targetClient ?? options.client;
    this.stateTable = options.stateTable;
    this.tableName = options.tableName;
    this.keyAttribute = options.keyAttribute;
    this.retry = resolveRetry(options.retry);
    this.tombstones = new AfterWriteReads((pks) => this.tombstoneVersions(pks));
  }

  async write(change: TargetWrite): Promise<'written' | 'skipped'> {
    const { flow, targetId, key, version, view } = change;
    const item = view.data ? { ...view.data, [this.keyAttribute]: key } : undefined;
    if (view.deleted || !item) return this.remove(change);
    const putAnswered = this.tombstones.join();
    let old: Record<string, unknown> | undefined;
    try {
      const put = await this.targetClient.send(
        new PutCommand({ TableName: this.tableName, Item: { ...item, [MARKER_ATTRIBUTE]: targetMarker(change, item) }, ...this.versionCondition(change), ReturnValues: 'ALL_OLD' }),
      );
      old = put.Attributes;
    } catch (err) {
      void putAnswered();
      // The target already has this version or a newer one.
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      return 'skipped';
    }
    if (old !== undefined) {
      void putAnswered();
      return 'written';
    }
    const deleted = await putAnswered(deliveredPk(flow, targetId, key));
    if (deleted !== undefined && deleted > version) {
      await this.undo(key, version);
      return 'skipped';
    }
    return 'written';
  }

  /** Absent, unmarked (written outside syncline) or marked with an older version; a replay may write the same one. */
  private versionCondition(change: TargetWrite) {
    return {
      ConditionExpression: `attribute_not_exists(#k) OR attribute_not_exists(#s) OR #s.#ver ${change.replay ? '<=' : '<'} :v`,
      ExpressionAttributeNames: { '#k': this.keyAttribute, '#s': MARKER_ATTRIBUTE, '#ver': 'version' },
      ExpressionAttributeValues: { ':v': change.version },
    };
  }

  /** Records the tombstone, then deletes; skipped when a newer delivery is recorded or the item has a newer version. */
  private async remove(change: TargetWrite): Promise<'written' | 'skipped'> {
    const { flow, targetId, key, version, view, replay, note } = change;
    try {
      await this.client.send(new UpdateCommand(deliveredUpdate(this.stateTable, flow, targetId, key, version, view.hash, replay, note)));
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      // The same version recorded is a retry whose delete may not have happened yet: delete again.
      const pk = deliveredPk(flow, targetId, key);
      const recorded = (await this.tombstoneVersions([pk])).get(pk);
      if (recorded !== undefined && recorded > version) return 'skipped';
    }
    try {
      await this.targetClient.send(new DeleteCommand({ TableName: this.tableName, Key: { [this.keyAttribute]: key }, ...this.versionCondition(change) }));
      return 'written';
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      return 'skipped';
    }
  }

  /** The versions the targets' tombstones (or an earlier release's delivered markers) record, read strongly consistent. */
  private async tombstoneVersions(pks: readonly string[]): Promise<Map<string, number>> {
    const items = await batchGetAll(this.client, this.stateTable, pks.map((pk) => ({ pk })), this.retry, { attributes: ['pk', 'version'] });
    return new Map(items.flatMap((i) => (typeof i.version === 'number' ? [[String(i.pk), i.version] as const] : [])));
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
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }
}

/**
 * The `_syncline` marker of a delivered item. `item` lets a stream capture tell syncline's own write (content
 * unchanged) from a later edit that kept the marker; `seq`/`id` (the winning change's tie-breakers) let a flow
 * capturing this item back give it the original clock; `at`, `ev` and `by` tell lineage when, what and who replayed.
 */
function targetMarker(change: TargetWrite, item: Record<string, unknown>): Record<string, unknown> {
  const { flow, targetId, version, view, ts, clock, note } = change;
  return {
    flow,
    target: targetId,
    version,
    hash: view.hash,
    item: contentHash(item),
    ts,
    ...(clock ? { seq: clock.seq, id: clock.id } : {}),
    ...(note ? { at: note.at, ev: note.eventIds.slice(0, NOTED_EVENT_IDS), ...(note.replayedBy !== undefined ? { by: note.replayedBy } : {}) } : {}),
  };
}

/** What a delivered item's marker tells of its delivery, as StateStore's `delivered` has it; undefined for an unmarked item. */
export function deliveredFromItem(item: Record<string, unknown> | undefined): StoredState['delivered'][string] | undefined {
  const marker = readMarker(item);
  if (!marker) return undefined;
  const m = item![MARKER_ATTRIBUTE] as Record<string, unknown>;
  return {
    version: marker.version,
    hash: marker.hash,
    ...(typeof m.at === 'number' ? { at: m.at, eventIds: Array.isArray(m.ev) ? m.ev.filter((e): e is string => typeof e === 'string') : [] } : {}),
    ...(typeof m.by === 'string' ? { replayedBy: m.by } : {}),
  };
}

/** A DynamoDB target's table, as DynamoDbTargetItems reads it. */
export interface TargetTableRef {
  readonly tableName: string;
  readonly keyAttribute: string;
  /** Client in the table's region. */
  readonly client: DynamoDBDocumentClient;
}

/**
 * The deliveries that DynamoDB targets record on their items (see DynamoDbTargetWriter): per target, what the
 * item's marker says of the delivery it holds. A table the caller may not read is left out; `delivered` markers of
 * the state table still show its tombstones.
 */
export class DynamoDbTargetItems implements TargetItemMarkers {
  constructor(
    private readonly tables: Readonly<Record<string, Readonly<Record<string, TargetTableRef>>>>,
    private readonly log?: LogPort,
  ) {}

  async get(flow: string, key: string): Promise<StoredState['delivered']> {
    const out: Record<string, StoredState['delivered'][string]> = {};
    await Promise.all(
      Object.entries(this.tables[flow] ?? {}).map(async ([targetId, t]) => {
        try {
          const { Item } = await t.client.send(
            new GetCommand({ TableName: t.tableName, Key: { [t.keyAttribute]: key }, ProjectionExpression: '#s', ExpressionAttributeNames: { '#s': MARKER_ATTRIBUTE } }),
          );
          const delivered = deliveredFromItem(Item);
          if (delivered) out[targetId] = delivered;
        } catch (err) {
          this.log?.warn('target item not readable', { flow, target: targetId, error: errorNameOf(err) });
        }
      }),
    );
    return out;
  }
}

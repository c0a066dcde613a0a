import { createHash } from 'node:crypto';
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FlowConfig } from '../config/schema';
import { viewOf, type Clock, type MergeDoc, type RecordView } from '../core/merge';
import { highestDelivered, StateTooLargeError, VersionConflictError, type CreateClaim, type DeliveryNote, type RemoteIdStore, type SendLeases, type StateStore, type StoredState, type TruncateMark, type TruncateScopeIndex } from '../ports';
import { STATE_TRUNCATE_INDEX } from '../plan/store-tables';
import { batchGetAll } from './dynamodb-batch-get';
import { conditionFailedItem } from './dynamodb-condition';
import { resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';
import { DYNAMODB_ITEM_LIMIT_BYTES, itemBytes } from './dynamodb-item-size';
import { errorNameOf } from '../core/error-text';
import { packState, unpackState } from './state-packing';

export interface DynamoDbStateStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /**
   * Target ids of each flow the store serves (e.g. `flowTargets(config.flows)`): a read assembles
   * `delivered` from these targets' marker items. Reading a flow missing here is an error.
   */
  readonly targets: Readonly<Record<string, readonly string[]>>;
  /**
   * The visible record of a flow's doc (e.g. `flowViews(config.flows)`): the state item stores only the doc, so a
   * read derives the view. Reading a flow missing here is an error.
   */
  readonly views: (flow: string, doc: MergeDoc) => RecordView;
  readonly retry?: RetryOptions;
}

/**
 * Partition key of a truncate scope's latest truncate: the scope's hash, as a scope may take all 2,048 bytes a key
 * may have (the flow id stays readable, for the functions' LeadingKeys).
 */
const truncatedPk = (flow: string, scope: string): string => `~truncated#${flow}#${createHash('sha256').update(scope).digest('base64url')}`;
/** A truncate's place among its source's: the log position, else the time (a source has positions or has none). */
const markOrder = (mark: TruncateMark): string => mark.pos ?? `~${String(mark.ts).padStart(20, '0')}`;

/** Partition key of one (flow, key) state item. */
export const statePk = (flow: string, key: string): string => `${flow}#${key}`;

/**
 * Partition key of the small item recording the version and hash last delivered to one target. Flow and target
 * ids match `^[a-z][a-z0-9-]*$` and never start with '~', so it never meets a state pk or a `~pull#` item.
 */
export const deliveredPk = (flow: string, targetId: string, key: string): string => `~delivered#${flow}#${targetId}#${key}`;

/** The view of each flow's docs, as DynamoDbStateStoreOptions.views wants it. */
export function flowViews(flows: readonly FlowConfig[]): (flow: string, doc: MergeDoc) => RecordView {
  const byId = new Map(flows.map((f) => [f.id, f]));
  return (flow, doc) => {
    const config = byId.get(flow);
    if (!config) throw new Error(`DynamoDbStateStore: no config for flow "${flow}"`);
    return viewOf(config, doc);
  };
}

/** The `targets` and `views` options of a store that serves these flows. */
export const flowStateOptions = (flows: readonly FlowConfig[]) => ({ targets: flowTargets(flows), views: flowViews(flows) });

/** The target ids of each flow, as DynamoDbStateStoreOptions.targets wants them. */
export function flowTargets(flows: readonly { readonly id: string; readonly targets: readonly { readonly id: string }[] }[]): Record<string, string[]> {
  return Object.fromEntries(flows.map((f) => [f.id, f.targets.map((t) => t.id)]));
}

/** The condition that `:v` is newer than the marker's `#ver` (for a replay, at least as new); none yet counts as older. */
const newerThanMarker = (replay: boolean) => (replay ? 'attribute_not_exists(#ver) OR #ver <= :v' : 'attribute_not_exists(#ver) OR #ver < :v');

/**
 * UpdateItem input that records a delivery in the target's marker item unless that item already has the
 * same or a newer version. Shared by `markSent` and the DynamoDB target writer's tombstones. The
 * state item is not checked: state items are never deleted and a delivery only follows a read of the state.
 */
export function deliveredUpdate(tableName: string, flow: string, targetId: string, key: string, version: number, hash: string, replay = false, note?: DeliveryNote, leaseOwner?: string) {
  // The marker also tells lineage when and what it delivered, so a delivery needs no audit item of its own.
  const noted = note ? ', #at = :at, #ev = :ev' + (note.replayedBy !== undefined ? ', #by = :by' : '') : '';
  const removed = [...(note && note.replayedBy === undefined ? ['#by'] : []), ...(leaseOwner !== undefined ? ['sendOwner', 'sendUntil'] : [])];
  // A marker may exist with only a remote id, a create claim or a send lease (no version yet). A replay writes the
  // same version again; nothing ever moves the marker back.
  const versionCondition = newerThanMarker(replay);
  return {
    TableName: tableName,
    Key: { pk: deliveredPk(flow, targetId, key) },
    UpdateExpression: `SET #ver = :v, #hash = :h${noted}${removed.length > 0 ? ` REMOVE ${removed.join(', ')}` : ''}`,
    ConditionExpression: leaseOwner !== undefined ? `(${versionCondition}) AND (attribute_not_exists(sendOwner) OR sendOwner = :o)` : versionCondition,
    ExpressionAttributeNames: { '#ver': 'version', '#hash': 'hash', ...(note ? { '#at': 'at', '#ev': 'ev', '#by': 'by' } : {}) },
    ExpressionAttributeValues: {
      ':v': version,
      ':h': hash,
      ...(note ? { ':at': note.at, ':ev': [...note.eventIds] } : {}),
      ...(note?.replayedBy !== undefined ? { ':by': note.replayedBy } : {}),
      ...(leaseOwner !== undefined ? { ':o': leaseOwner } : {}),
    },
  };
}

/** A stored view of an earlier release; a deleted one takes its delete's clock from the doc. */
function legacyView(view: RecordView, resolve: () => RecordView): RecordView {
  return view.deleted && view.tomb === undefined ? { ...view, tomb: resolve().tomb } : view;
}

/**
 * StateStore on one DynamoDB table keyed by `pk` alone:
 * - `${flow}#${key}`: the state { pk, version, z, updatedAt, tscope? }, written by resolve only. `z` is the doc,
 *   packed (one table of clocks), with the key's recent decisions, deflated: a typical record stays under the 1 KB a write unit covers, where a
 *   doc and view as nested maps took about 4.5 KB. Items of earlier releases ({ flow, key, version, doc, view, ... })
 *   are still read, and rewritten in the new form by their next change;
 * - `~delivered#${flow}#${target}#${key}`: { pk, version, hash } last delivered to that target, moved only upwards.
 * Deliveries never rewrite the (large) state item, and `put` never touches the markers, so a resolve cannot roll
 * them back. A `delivered` map left on a state item by earlier releases is still read (the higher version wins).
 */
export class DynamoDbStateStore implements StateStore, RemoteIdStore, SendLeases, TruncateScopeIndex {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly targets: Readonly<Record<string, readonly string[]>>;
  private readonly views: (flow: string, doc: MergeDoc) => RecordView;
  private readonly retry: ResolvedRetry;

  constructor(options: DynamoDbStateStoreOptions) {
    this.client = options.client;
    this.views = options.views;
    this.tableName = options.tableName;
    this.targets = options.targets;
    this.retry = resolveRetry(options.retry);
  }

  /** Reads the state items and the marker items of every target of the flow (ConsistentRead). */
  async getMany(flow: string, keys: readonly string[]): Promise<Map<string, StoredState>> {
    const targetIds = this.targets[flow];
    if (!targetIds) throw new Error(`DynamoDbStateStore: no targets configured for flow "${flow}"`);
    const markerOf = new Map<string, { key: string; targetId: string }>();
    const pks: string[] = [];
    for (const key of new Set(keys)) {
      pks.push(statePk(flow, key));
      for (const targetId of targetIds) {
        const pk = deliveredPk(flow, targetId, key);
        markerOf.set(pk, { key, targetId });
        pks.push(pk);
      }
    }

    const states = new Map<string, StoredState>();
    const markers = new Map<string, Record<string, StoredState['delivered'][string]>>();
    for (const item of await batchGetAll(this.client, this.tableName, pks.map((pk) => ({ pk })), this.retry)) {
      const marker = markerOf.get(item.pk as string);
      if (marker) {
        // A marker holding only a create claim or a send lease records no delivery.
        if (item.version === undefined && typeof item.remoteId !== 'string') continue;
        const byTarget = markers.get(marker.key) ?? {};
        byTarget[marker.targetId] = {
          version: item.version === undefined ? 0 : Number(item.version),
          hash: (item.hash as string | undefined) ?? '',
          ...(typeof item.remoteId === 'string' ? { remoteId: item.remoteId } : {}),
          ...(typeof item.at === 'number' ? { at: item.at, eventIds: Array.isArray(item.ev) ? (item.ev as string[]) : [] } : {}),
          ...(typeof item.by === 'string' ? { replayedBy: item.by } : {}),
        };
        markers.set(marker.key, byTarget);
      } else {
        const state = this.fromItem(item);
        states.set(state.key, state);
      }
    }

    const out = new Map<string, StoredState>();
    for (const [key, state] of states) out.set(key, { ...state, delivered: highestDelivered(state.delivered, markers.get(key)) });
    return out;
  }

  async get(flow: string, key: string): Promise<StoredState | undefined> {
    return (await this.getMany(flow, [key])).get(key);
  }

  /** Writes the state item (doc and recent decisions); `state.delivered` and `state.view` are not stored (markers hold one, the doc gives the other). */
  async put(state: StoredState, expectedVersion: number): Promise<void> {
    const pk = statePk(state.flow, state.key);
    const z = packState(state.doc, state.recent);
    // DynamoDB would refuse it with a ValidationException, which a retry never mends: said before the write instead.
    const scoped = state.truncateScope ? { tscope: state.truncateScope, ...(state.truncateScopeClock ? { tsclk: state.truncateScopeClock } : {}) } : {};
    const bytes = itemBytes({ pk, version: state.version, z, updatedAt: state.updatedAt, ...scoped });
    if (bytes > DYNAMODB_ITEM_LIMIT_BYTES) throw new StateTooLargeError(state.flow, state.key, bytes, DYNAMODB_ITEM_LIMIT_BYTES);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk },
          // The key is listed in the truncate index while it has a scope, and leaves it when it loses one. The
          // attributes of the earlier item form go once the doc is packed.
          UpdateExpression: `SET #version = :version, #z = :z, #updatedAt = :updatedAt${Object.keys(scoped).map((a) => `, #${a} = :${a}`).join('')} REMOVE #flow, #key, #doc, #view${['tscope', 'tsclk'].filter((a) => !(a in scoped)).map((a) => `, #${a}`).join('')}`,
          ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : '#version = :expected',
          ExpressionAttributeNames: {
            '#flow': 'flow',
            '#key': 'key',
            '#version': 'version',
            '#z': 'z',
            '#doc': 'doc',
            '#view': 'view',
            '#updatedAt': 'updatedAt',
            '#tscope': 'tscope',
            '#tsclk': 'tsclk',
          },
          ExpressionAttributeValues: {
            ':version': state.version,
            ':z': z,
            ':updatedAt': state.updatedAt,
            ...Object.fromEntries(Object.entries(scoped).map(([a, v]) => [`:${a}`, v])),
            ...(expectedVersion === 0 ? {} : { ':expected': expectedVersion }),
          },
        }),
      );
    } catch (err) {
      if (errorNameOf(err) === 'ConditionalCheckFailedException') throw new VersionConflictError(state.flow, state.key);
      if (errorNameOf(err) === 'ValidationException' && /item size/i.test(String((err as Error).message))) throw new StateTooLargeError(state.flow, state.key);
      throw err;
    }
  }

  /** One page of the keys listed under a truncate scope; `cursor` is opaque (the index's last evaluated key). */
  async keysInTruncateScope(flow: string, scope: string, limit: number, cursor?: string): Promise<{ keys: string[]; cursor?: string }> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: STATE_TRUNCATE_INDEX,
        KeyConditionExpression: 'tscope = :s',
        ExpressionAttributeValues: { ':s': scope },
        Limit: limit,
        ...(cursor ? { ExclusiveStartKey: JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown> } : {}),
      }),
    );
    const prefix = `${flow}#`;
    const keys = (result.Items ?? []).map((item) => item.pk as string).filter((pk) => pk.startsWith(prefix)).map((pk) => pk.slice(prefix.length));
    const next = result.LastEvaluatedKey ? Buffer.from(JSON.stringify(result.LastEvaluatedKey), 'utf8').toString('base64url') : undefined;
    return { keys, ...(next ? { cursor: next } : {}) };
  }

  /** A conditional UpdateItem of `~truncated#<scope>`: the mark moves only to a later truncate (position, else time). */
  async markTruncated(flow: string, scope: string, mark: TruncateMark): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: truncatedPk(flow, scope) },
          UpdateExpression: 'SET mark = :m, ord = :o',
          ConditionExpression: 'attribute_not_exists(ord) OR ord < :o',
          ExpressionAttributeValues: { ':m': mark, ':o': markOrder(mark) },
        }),
      );
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  async truncateMarks(flow: string, scopes: readonly string[]): Promise<Map<string, TruncateMark>> {
    const byPk = new Map([...new Set(scopes)].map((scope) => [truncatedPk(flow, scope), scope]));
    const items = await batchGetAll(this.client, this.tableName, [...byPk.keys()].map((pk) => ({ pk })), this.retry);
    return new Map(items.map((item) => [byPk.get(item.pk as string)!, item.mark as TruncateMark]));
  }

  /** Records a delivery on the marker, unless a newer one (or, but for a replay, the same one) is recorded already. */
  private async recordDelivery(flow: string, key: string, targetId: string, version: number, hash: string, replay: boolean, note?: DeliveryNote): Promise<void> {
    try {
      await this.client.send(new UpdateCommand(deliveredUpdate(this.tableName, flow, targetId, key, version, hash, replay, note)));
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  async claimSend(flow: string, targetId: string, key: string, version: number, owner: string, now: number, until: number, replay = false): Promise<'claimed' | 'taken' | 'delivered'> {
    const pk = deliveredPk(flow, targetId, key);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk },
          UpdateExpression: 'SET sendOwner = :o, sendUntil = :u',
          ConditionExpression: `(attribute_not_exists(sendUntil) OR sendUntil < :now OR sendOwner = :o) AND (${newerThanMarker(replay)})`,
          ExpressionAttributeNames: { '#ver': 'version' },
          ExpressionAttributeValues: { ':o': owner, ':u': until, ':now': now, ':v': version },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      const old = await conditionFailedItem(err, this.client, this.tableName, { pk });
      const delivered = Number(old?.version ?? 0);
      return delivered > version || (delivered === version && !replay) ? 'delivered' : 'taken';
    }
  }

  async markSent(flow: string, targetId: string, key: string, owner: string, version: number, hash: string, note?: DeliveryNote): Promise<void> {
    // A replay sent the version the marker has: it records that version again, with when and who asked.
    const replay = note?.replayedBy !== undefined;
    try {
      await this.client.send(new UpdateCommand(deliveredUpdate(this.tableName, flow, targetId, key, version, hash, replay, note, owner)));
      return;
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
    // The lease is no longer ours (it expired and another delivery took it): record the version if it is still the
    // newer one, and let the lease go if it is still ours.
    await this.recordDelivery(flow, key, targetId, version, hash, replay, note);
    await this.dropSend(flow, targetId, key, owner);
  }

  async dropSend(flow: string, targetId: string, key: string, owner: string): Promise<void> {
    await dropSendLease(this.client, this.tableName, deliveredPk(flow, targetId, key), owner);
  }

  async claimCreate(flow: string, targetId: string, key: string, owner: string, now: number, until: number): Promise<CreateClaim> {
    try {
      const { Attributes: old } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: deliveredPk(flow, targetId, key) },
          UpdateExpression: 'SET createClaim = :o, createUntil = :u',
          ConditionExpression: 'attribute_not_exists(remoteId) AND (attribute_not_exists(createUntil) OR createUntil < :now OR createClaim = :o)',
          ExpressionAttributeValues: { ':o': owner, ':u': until, ':now': now },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return typeof old?.forgotten === 'string' ? { claimed: true, forgotten: old.forgotten } : { claimed: true };
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      const old = await conditionFailedItem(err, this.client, this.tableName, { pk: deliveredPk(flow, targetId, key) });
      return typeof old?.remoteId === 'string' ? { remoteId: old.remoteId } : 'taken';
    }
  }

  private fromItem(item: Record<string, unknown>): StoredState {
    const pk = item.pk as string;
    const split = pk.indexOf('#');
    const flow = pk.slice(0, split);
    const key = pk.slice(split + 1);
    const packed = item.z instanceof Uint8Array ? unpackState(flow, key, item.z) : undefined;
    const doc = packed?.doc ?? (item.doc as MergeDoc);
    return {
      flow,
      key,
      version: Number(item.version),
      doc,
      // An item of an earlier release carries its view (a deleted one without the delete's clock, which the doc
      // has); a packed one is resolved again.
      view: packed ? this.views(flow, doc) : legacyView(item.view as RecordView, () => this.views(flow, doc)),
      ...(packed && packed.recent.length > 0 ? { recent: packed.recent } : {}),
      delivered: (item.delivered ?? {}) as Delivered,
      updatedAt: Number(item.updatedAt ?? 0),
      ...(typeof item.tscope === 'string' ? { truncateScope: item.tscope } : {}),
      ...(typeof item.tscope === 'string' && item.tsclk !== null && typeof item.tsclk === 'object' ? { truncateScopeClock: item.tsclk as Clock } : {}),
    };
  }

  async setRemoteId(flow: string, targetId: string, key: string, remoteId: string | null, forgotten?: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: deliveredPk(flow, targetId, key) },
          ...(remoteId !== null
            ? { UpdateExpression: 'SET remoteId = :r REMOVE createClaim, createUntil', ExpressionAttributeValues: { ':r': remoteId } }
            : forgotten !== undefined
              ? // Only the id found gone: another delivery may have created the record again meanwhile.
                { UpdateExpression: 'SET forgotten = :f REMOVE remoteId, createClaim, createUntil', ConditionExpression: 'remoteId = :f', ExpressionAttributeValues: { ':f': forgotten } }
              : { UpdateExpression: 'REMOVE remoteId, createClaim, createUntil' }),
        }),
      );
    } catch (err) {
      if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }
}

type Delivered = StoredState['delivered'];

/** Lets a delivered marker's send lease go while `owner` still holds it; answers whether it did. */
export async function dropSendLease(client: DynamoDBDocumentClient, tableName: string, pk: string, owner: string): Promise<boolean> {
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk },
        UpdateExpression: 'REMOVE sendOwner, sendUntil',
        ConditionExpression: 'sendOwner = :o',
        ExpressionAttributeValues: { ':o': owner },
      }),
    );
    return true;
  } catch (err) {
    if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
    return false;
  }
}

/** Ports of the delivery step: target writers and what the delivered markers keep (versions, remote ids, send leases). */
import type { RecordView } from '../core/merge';
import type { DeliveryNote, StoredState } from './index';

/** The change a target writer delivers: the current state of one key. */
export interface TargetWrite {
  readonly flow: string;
  readonly key: string;
  readonly targetId: string;
  /** State version being delivered; the target keeps the highest it has seen. */
  readonly version: number;
  readonly view: RecordView;
  /** Clock of the newest change behind this version (ms since epoch). */
  readonly ts: number;
  /**
   * Tie-breakers (`seq`, `id`) of the winning change behind this version. A DynamoDB target writes them into the origin
   * marker, so a change relayed through the table keeps its original clock and two flows order it alike.
   */
  readonly clock?: { readonly seq: string; readonly id: string };
  /** The id the target gave this key when it was created (an `http` target with `create`). */
  readonly remoteId?: string;
  /** A replay: write even where the target already has this version (never an older one). */
  readonly replay?: boolean;
  /** What the delivered marker records for lineage (a writer that records the marker itself). */
  readonly note?: DeliveryNote;
}

/** Deliveries recorded on the target items themselves (DynamoDB targets), by target id. */
export interface TargetItemMarkers {
  get(flow: string, key: string): Promise<StoredState['delivered']>;
}

/** Per target, the delivery of the higher version of two records of it (a remote id is kept from either). */
export function highestDelivered(a: StoredState['delivered'], b: StoredState['delivered'] | undefined): StoredState['delivered'] {
  if (!b) return a;
  const out: Record<string, StoredState['delivered'][string]> = { ...a };
  for (const [targetId, d] of Object.entries(b)) {
    const remoteId = d.remoteId ?? out[targetId]?.remoteId;
    const cur = out[targetId];
    const higher = !cur || cur.version < d.version ? d : cur;
    out[targetId] = remoteId !== undefined ? { ...higher, remoteId } : higher;
  }
  return out;
}

/**
 * Send leases of the targets written without a condition (S3, EventBridge, HTTP, SQS), kept with the target's delivered
 * marker: one delivery of a key to such a target is in flight at a time, so a slower delivery of an older version can
 * never land after a newer one.
 */
export interface SendLeases {
  /**
   * Takes the key's lease until `until` (ms) to send `version`, unless another delivery holds an unexpired one
   * (`taken`) or the target already has this version or a newer one (`delivered`; for a replay, a newer one).
   */
  claimSend(flow: string, targetId: string, key: string, version: number, owner: string, now: number, until: number, replay?: boolean): Promise<'claimed' | 'taken' | 'delivered'>;
  /** Records the delivery unless the target has a newer version recorded (a replay, whose note names who asked, records its version again), and lets the lease go. */
  markSent(flow: string, targetId: string, key: string, owner: string, version: number, hash: string, note?: DeliveryNote): Promise<void>;
  /** Lets the lease go without recording a delivery (the write failed). Another owner's lease is left alone. */
  dropSend(flow: string, targetId: string, key: string, owner: string): Promise<void>;
}

/** A create claim's answer: ours (with the remote id forgotten before, if any), another's, or the record's id. */
export type CreateClaim = { readonly claimed: true; readonly forgotten?: string } | 'taken' | { readonly remoteId: string };

/** Remote ids of records an `http` target created, kept with the target's delivered marker. */
export interface RemoteIdStore {
  /**
   * Claims the creation of a key's remote record until `until` (ms), unless it already has a remote id (returned)
   * or another delivery holds an unexpired claim (`taken`). The claim is what makes a key created at most once; it
   * names the remote id last forgotten (`forgotten`), which sets the create apart from the one before.
   */
  claimCreate(flow: string, targetId: string, key: string, owner: string, now: number, until: number): Promise<CreateClaim>;
  /**
   * Keeps the remote id (and drops the claim); `null` forgets it, so the next delivery creates the record again, and
   * keeps `forgotten` (the id that was gone) for that create. With `forgotten`, only that id is forgotten: a record
   * another delivery created again meanwhile keeps its new id.
   */
  setRemoteId(flow: string, targetId: string, key: string, remoteId: string | null, forgotten?: string): Promise<void>;
}

export interface TargetWriter {
  /** Writes the current view of a key; `skipped` when the target already has this version or a newer one. */
  write(change: TargetWrite): Promise<'written' | 'skipped'>;
}

/** How a batch writer settled one key of a batch. */
export type TargetResult =
  | { readonly status: 'written' }
  /** Transient (throttling, 5xx, timeout) after the writer's own retries: the message is retried by SQS, then DLQ. */
  /** `untried`: the invocation's time ran out before any request for it was sent. */
  /** `notBefore` (ms): the API asked for a pause (429, 503 with Retry-After) longer than the writer waits. */
  | { readonly status: 'retry'; readonly reason: string; readonly untried?: boolean; readonly notBefore?: number }
  /** Permanent (e.g. HTTP 4xx): retrying cannot help; the record is parked in the DLQ at once. */
  | { readonly status: 'rejected'; readonly reason: string; readonly detail?: Record<string, unknown> };

/**
 * A target without conditional writes (S3, EventBridge, HTTP, SQS): writes the current state of many keys at
 * once. The delivery handler checks the recorded delivered version before and records it after.
 */
export interface BatchTargetWriter {
  /** One result per key of `changes` (keys are unique in a call). */
  writeBatch(changes: readonly TargetWrite[]): Promise<Map<string, TargetResult>>;
}

/* The DynamoDB tables every flow of a stack shares: keys, expiry and indexes, for SyncStore and the local runtime. */

/** The store tables by the role their items play. */
export type StoreTableId = 'state' | 'audit' | 'quarantine' | 'conflicts' | 'dedup';

export interface TablePlan {
  readonly id: StoreTableId;
  readonly partitionKey: string;
  readonly sortKey?: string;
  readonly ttlAttribute?: string;
  /**
   * Global secondary indexes; each projects every attribute unless `keysOnly`. One `addedLater` may be missing from a
   * table an earlier release created (the local runtime's `--persist`); its reader falls back to the table.
   */
  readonly indexes: readonly { readonly name: string; readonly partitionKey: string; readonly sortKey: string; readonly keysOnly?: boolean; readonly addedLater?: boolean }[];
}

/** Key attributes of store tables and indexes holding numbers (epoch ms); every other key attribute is a string. Must match the adapters' item shapes. */
export const NUMBER_KEY_ATTRIBUTES: ReadonlySet<string> = new Set(['at', 'openedAt']);

/** The state table's sparse, keys-only index of keys by source table (a truncate with `onTruncate: "delete"` lists them). */
export const STATE_TRUNCATE_INDEX = 'byTruncateScope';
/** The audit table's index by flow and time (status reads the last hour through it). */
export const AUDIT_TIME_INDEX = 'byFlowTime';
/** The quarantine table's index of a flow's items by time (listings page through it, newest first). */
export const QUARANTINE_TIME_INDEX = 'byFlowAt';
/** The conflicts table's sparse index of open conflicts by flow (the sweep and the admin API list them through it). */
export const CONFLICT_OPEN_INDEX = 'openByFlow';

/** Store tables shared by every flow of a stack. Item shapes live in the DynamoDB adapters. */
export const STORE_TABLES: readonly TablePlan[] = [
  {
    id: 'state',
    partitionKey: 'pk',
    // Sparse: only keys of a source with `onTruncate: "delete"` carry `tscope`, the table a truncate deletes them with.
    indexes: [{ name: STATE_TRUNCATE_INDEX, partitionKey: 'tscope', sortKey: 'pk', keysOnly: true }],
  },
  {
    id: 'audit',
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    // Hour buckets keep one flow's audit writes from landing on a single index partition.
    indexes: [{ name: AUDIT_TIME_INDEX, partitionKey: 'flowHour', sortKey: 'at' }],
  },
  {
    id: 'quarantine',
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    // Same partition as the table (`<flow>`), so `dynamodb:LeadingKeys` holds on either; `at` is on every item ever written.
    indexes: [{ name: QUARANTINE_TIME_INDEX, partitionKey: 'pk', sortKey: 'at', addedLater: true }],
  },
  {
    id: 'conflicts',
    partitionKey: 'pk',
    sortKey: 'sk',
    // Closed (resolved or superseded) conflicts expire; open ones carry no `expiresAt`.
    ttlAttribute: 'expiresAt',
    // Sparse: only open conflicts carry `openFlow`, so listing them reads none of the closed history.
    indexes: [{ name: CONFLICT_OPEN_INDEX, partitionKey: 'openFlow', sortKey: 'openedAt' }],
  },
  { id: 'dedup', partitionKey: 'pk', ttlAttribute: 'expiresAt', indexes: [] },
];

import type { StoreTable } from './step-context';

/** The environment variable holding each store table's name: set by SyncFlow, read by the Lambda entries. */
export const TABLE_ENV: Readonly<Record<StoreTable, string>> = {
  state: 'STATE_TABLE',
  audit: 'AUDIT_TABLE',
  quarantine: 'QUARANTINE_TABLE',
  conflicts: 'CONFLICT_TABLE',
  dedup: 'DEDUP_TABLE',
};

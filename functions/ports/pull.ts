/** Ports of the periodic-refresh (`schedule` source) pull. */

/** One raw item of a page, or the reason it could not be read, with where it came from. */
export interface PulledItem {
  /** The parsed item; absent when `error` is set. */
  readonly record?: unknown;
  /** Why the item could not be read (unparseable line, ...); it goes to quarantine. */
  readonly error?: string;
  /** Where it came from: `page 3 item 7`, `s3://bucket/key line 12`. */
  readonly position: string;
}

/** A page of items: one HTTP response, or a run of lines of an S3 object. */
export interface PulledPage {
  readonly items: readonly PulledItem[];
  /** Opaque continuation that resumes the pull right after this page; undefined on the last page. */
  readonly next?: string;
  /** `page 3`, `s3://bucket/key lines 1-1000`. */
  readonly label: string;
}

export interface PullReadOptions {
  /** Resume after the page that returned this continuation. @default the start */
  readonly continuation?: string;
  /** Incremental mode: the committed high-water mark of the cursor field (sent to APIs that take it). */
  readonly since?: string;
}

/** Reads a source page by page. Errors after bounded retries are thrown (the pull is then partial). */
export interface PullReader {
  pages(options: PullReadOptions): AsyncIterable<PulledPage>;
}

/** What the pull remembers of a key in `full` mode. */
export interface PulledKey {
  /** Content hash of the record last sent. */
  readonly hash: string;
  /** The raw key fields' values, the data of an inferred delete envelope (the transform derives the key from it). */
  readonly keyData?: Record<string, unknown>;
  /** The key fields encrypted, in place of `keyData`, when the flow masks its key (core/pull/pull-keys.ts). */
  readonly sealed?: string;
}

/** A key list that makes up the set of keys known to exist at the source. */
export interface SeenList {
  readonly runId: string;
  readonly chunks: number;
  /** The list's chunks from this one on (those before it are dropped already). @default 0 */
  readonly from?: number;
}

/** Progress of one source's pulls, kept in the state table. */
export interface PullRunState {
  readonly flow: string;
  readonly source: string;
  /** A run is in progress (it continues in the next invocation). */
  readonly active: boolean;
  readonly runId: string;
  readonly startedAt: number;
  /** Continuation of the active run; undefined = from the start. */
  readonly continuation?: string;
  /** Invocations spent on the active run so far. */
  readonly invocations: number;
  /** Consecutive failed invocations of the active run. */
  readonly failures: number;
  readonly pages: number;
  readonly records: number;
  readonly changed: number;
  readonly quarantined: number;
  /** Some record of the active run was quarantined without a key: its key may still exist, so no deletes. */
  readonly keylessQuarantined: boolean;
  /** Seen-key chunks written by the active run. */
  readonly seenChunks: number;
  /** Full mode: the key lists whose union is the set of keys known to exist (the last accepted run, plus partial ones since). */
  readonly known: readonly SeenList[];
  /** Incremental mode: the committed high-water mark (raw cursor value). */
  readonly since?: string;
  /** Incremental mode: the largest cursor sent by the active run. */
  readonly hwm?: string;
  /** Summary of the last finished run. */
  readonly last?: Record<string, unknown>;
  /** How the key lists and per-key items name keys (core/pull/pull-keys.ts). @default 'raw' (state written before sealing) */
  readonly keys?: string;
  /** The source's mode when the run began. @default unknown (state written before it was recorded) */
  readonly mode?: 'full' | 'incremental';
  /** Key lists of another key form still to drop, with their per-key items (core/pull/pull-keys.ts `settleKeyForm`). */
  readonly settling?: readonly SeenList[];
}

/**
 * Pull bookkeeping. Keeps memory bounded: per-key hashes live in their own items (read in batches), and the
 * keys seen by a run are appended as chunks, so no invocation holds more than one run's key set.
 */
export interface PullStateStore {
  getRun(flow: string, source: string): Promise<PullRunState | undefined>;
  /** Saves the run state (the lease is untouched). */
  putRun(state: PullRunState): Promise<void>;
  /** Takes the source's lease until `until` unless someone else holds an unexpired one. */
  acquireLease(flow: string, source: string, owner: string, until: number, now: number): Promise<boolean>;
  releaseLease(flow: string, source: string, owner: string): Promise<void>;
  /** Batched read of per-key hashes (absent keys are missing from the map). */
  getKeys(flow: string, source: string, keys: readonly string[]): Promise<Map<string, PulledKey>>;
  putKeys(flow: string, source: string, entries: readonly (PulledKey & { readonly key: string })[]): Promise<void>;
  deleteKeys(flow: string, source: string, keys: readonly string[]): Promise<void>;
  /** Stores chunk `index` of the keys seen by run `runId`. */
  appendSeen(flow: string, source: string, runId: string, index: number, keys: readonly string[]): Promise<void>;
  /** The chunks of a run's seen keys, one at a time. */
  readSeen(flow: string, source: string, list: SeenList): AsyncIterable<readonly string[]>;
  dropSeen(flow: string, source: string, list: SeenList): Promise<void>;
}

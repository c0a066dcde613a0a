import type { ChangeEnvelope } from '../envelope';
import type { FlowConfig } from '../../config/schema';

/** Version of one change, totally ordered by `compareClock`. */
export interface Clock {
  ts: number;
  src: string;
  seq: string;
  id: string;
  /** Position in the source's log; orders two clocks of the same source before `ts`. */
  pos?: string;
}

/** One field value and the clock of the change that wrote it. */
export interface Entry {
  v: unknown;
  c: Clock;
}

/** A manual-strategy entry: also the value of the field that the writer saw (`before`), when known. */
export interface ManualEntry extends Entry {
  b?: unknown;
}

/** Record-level last writer: the winning change; `d` absent means it was a delete. */
export interface LwwDoc {
  s: 'lww';
  k?: string;
  w?: { c: Clock; d?: Record<string, unknown> };
}

/**
 * Per-field winner and the newest tombstone (older entries are pruned). `u` holds, per field, the newest change that
 * carried the field unchanged (its `before` held the same value, as a whole-item source such as a DynamoDB stream image
 * does for every field it did not edit): shown only when no edit of the field is there, and kept only while newer than it.
 */
export interface FieldLwwDoc {
  s: 'field-lww';
  k?: string;
  f: Record<string, Entry>;
  u?: Record<string, Entry>;
  t?: Clock;
}

/** Per-field best entry under the field's ranking, and the newest tombstone per source. */
export interface PriorityDoc {
  s: 'priority';
  k?: string;
  f: Record<string, Entry>;
  t: Record<string, Clock>;
}

/**
 * Per field, the latest entry per source (resolutions come from `syncline:review`), and the newest tombstone. An entry
 * whose change carried the field unchanged (`b` equal to `v`) has a slot of its own, `<source> (unchanged)`, so it never
 * displaces that source's edit of the field.
 */
export interface ManualDoc {
  s: 'manual';
  k?: string;
  f: Record<string, Record<string, ManualEntry>>;
  t?: Clock;
}

/**
 * What one source with log positions has said about a record, in its own log order: per field the latest value (and
 * the `before` it came with), the latest delete, and the latest upsert with the fields it carried (`n`) and the fields
 * it left as they are (`k`). A change at an earlier position than one already here is superseded by it, whatever
 * their `ts`; the strategy then sees only what is left.
 */
export interface SourceLog {
  f: Record<string, ManualEntry>;
  t?: Clock;
  l?: { c: Clock; n: string[]; k?: string[] };
}

/**
 * Persisted merge state of one (flow, key): JSON-serializable and canonical, so the same set of
 * changes gives a deep-equal doc whatever the order or duplication. `k` is the record key once known.
 * The strategy's own fields hold the changes without a log position; `x` holds, per source, those with one.
 */
export type MergeDoc = (LwwDoc | FieldLwwDoc | PriorityDoc | ManualDoc) & { x?: Record<string, SourceLog> };
export type StrategyName = MergeDoc['s'];

/** Visible state of a record derived from its doc. */
export interface RecordView {
  data: Record<string, unknown> | null;
  deleted: boolean;
  /** Clock of the change behind each visible field. */
  clocks: Record<string, Clock>;
  /** Clock of the delete behind a deleted record (it has no fields): the time targets see for it. */
  tomb?: Clock;
  /** contentHash(data). */
  hash: string;
}

/** What happened to one input envelope. */
export interface Decision {
  id: string;
  outcome: 'won' | 'superseded' | 'conflict';
  reason: string;
}

/** An open manual-review conflict: `current` is displayed, `incoming` is parked. */
export interface Conflict {
  id: string;
  flow: string;
  key: string;
  field: string;
  current: { value: unknown; source: string; clock: Clock };
  incoming: { value: unknown; source: string; clock: Clock };
}

export interface MergeResult {
  doc: MergeDoc;
  view: RecordView;
  /** view.hash or view.deleted differ from the view before the merge. */
  changed: boolean;
  /** `doc` differs from the doc merged into (always, when there was none): the state needs writing. */
  docChanged: boolean;
  /** One per input envelope, in input order. */
  decisions: Decision[];
  /** Every open conflict of the record after the merge. */
  conflicts: Conflict[];
}

/** A change as strategies see it. */
export interface Change {
  clock: Clock;
  op: ChangeEnvelope['op'];
  data?: Record<string, unknown>;
  before?: Record<string, unknown>;
  /** Fields the change leaves as they are (the source did not have their value). */
  keep?: string[];
}

/** Flow-derived settings a strategy needs. */
export interface MergeContext {
  readonly flow: FlowConfig;
  /** Tie-break order of sources (first ranks highest). */
  readonly order: readonly string[];
  /** compareClock bound to `order`. */
  cmp(a: Clock, b: Clock): number;
  /** `conflict.concurrencyWindow` in ms. */
  readonly windowMs?: number;
}

/** Visible state as a strategy derives it. */
export interface Resolved {
  fields: Map<string, Entry>;
  deleted: boolean;
  /** Clock of the delete behind a deleted record. */
  tomb?: Clock;
  /** Open conflicts: displayed entry and parked entry per field. */
  open: { field: string; current: Entry; incoming: Entry }[];
}

/** One conflict strategy. All share this interface and are registered in `strategies.ts`. */
export interface Strategy<D extends MergeDoc = MergeDoc> {
  readonly name: D['s'];
  empty(): D;
  /** A copy of `doc` that `apply` may change without changing `doc`: new containers, the same entries (never changed in place). */
  copy(doc: D): D;
  /**
   * Joins one change into `doc` in place (the caller owns `doc`); must be idempotent and order-free. Answers whether
   * `doc` changed: a change it leaves out must answer false, for the state is then not written again.
   */
  apply(ctx: MergeContext, doc: D, change: Change): boolean;
  resolve(ctx: MergeContext, doc: D): Resolved;
  /** Whether the doc still holds this exact clock (duplicate detection). */
  contains(doc: D, clock: Clock): boolean;
  /** Why a change that is not visible lost, e.g. `older than ts=5 from crm`. */
  explain(ctx: MergeContext, doc: D, change: Change): string;
  /** Changes that rebuild what the doc holds, so a flow can switch strategy keeping its state. */
  replay(doc: D): Change[];
}

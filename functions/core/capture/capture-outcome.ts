import type { FlowConfig } from '../../config/schema';
import type { AuditEntry, QuarantineItem } from '../../ports';
import { recordSizeProblem } from '../record-limits';
import { ENVELOPE_VERSION } from '../envelope';
import { captureKeys, maskForQuarantine } from '../transform/raw-record';

/** What a capture checks of one record it read, in the order the checks run. */
export interface CaptureCheck {
  /** A problem the capture found before these checks (an unreadable item, a bad timestamp): it wins. */
  readonly first?: string;
  /** Values a JSON number cannot hold (carryProblems); empty where the op refuses none (a delete). */
  readonly unstorable: readonly string[];
  /** The key the capture read, where a record without one is refused here; absent where no key is required. */
  readonly key?: string;
  /** What is measured against the size limits (stringified only once the other checks pass). */
  readonly sized: unknown;
  readonly op: 'upsert' | 'delete';
  /**
   * What the size reason calls it.
   * @default 'record'
   */
  readonly what?: string;
}

/** Why a read record is quarantined at capture, or undefined: `first`, then carry problems, a missing key, then size. */
export function captureProblem(flow: FlowConfig, check: CaptureCheck): string | undefined {
  if (check.first !== undefined) return check.first;
  if (check.unstorable.length > 0) return `record cannot be carried exactly: ${check.unstorable[0]}`;
  if (check.key !== undefined && captureKeys(flow).readsKey && check.key === '') return `missing key field(s) ${flow.key.join(', ')}`;
  return recordSizeProblem(JSON.stringify(check.sized), check.op, check.what);
}

/** A record refused at capture, with what each capture path says of it. */
export interface CaptureRefusal {
  readonly id: string;
  readonly source: string;
  readonly at: number;
  readonly reason: string;
  /** The record as read; absent when none could be read (the item then keeps `{}`). */
  readonly record?: Record<string, unknown>;
  /**
   * Masks the record for the quarantine item.
   * @default maskForQuarantine for the flow
   */
  readonly mask?: (record: Record<string, unknown>) => Record<string, unknown>;
  /** Values a JSON number cannot hold (carryProblems): when any, they are the item's errors, even beside another reason. */
  readonly unstorable?: readonly string[];
  /** @default the unstorable values, else [reason] */
  readonly errors?: readonly string[];
  /** @default 'upsert' */
  readonly op?: 'upsert' | 'delete';
  readonly seq: string;
  /** Where it came from, kept as the item's `position`. */
  readonly position: string;
  /**
   * The key the audit entry is written under.
   * @default the record's raw key (CaptureKeys.auditKeyOf)
   */
  readonly auditKey?: string;
  /**
   * The key in the item's envelope.
   * @default auditKey
   */
  readonly key?: string;
  /** @default reason */
  readonly auditReason?: string;
}

/** The quarantine item and the audit entry of a record refused at capture; its envelope's ts is the capture time. */
export function quarantineOf(flow: FlowConfig, refusal: CaptureRefusal): { item: QuarantineItem; entry: AuditEntry } {
  const { id, source, at, reason, record, seq, position } = refusal;
  const auditKey = refusal.auditKey ?? captureKeys(flow).auditKeyOf(record);
  const mask = refusal.mask ?? ((r: Record<string, unknown>) => maskForQuarantine(flow, r));
  return {
    item: {
      flow: flow.id,
      id,
      source,
      at,
      reason,
      errors: refusal.errors ?? (refusal.unstorable?.length ? [...refusal.unstorable] : [reason]),
      record: record ? mask(record) : {},
      envelope: { v: ENVELOPE_VERSION, id, flow: flow.id, source, key: refusal.key ?? auditKey, op: refusal.op ?? 'upsert', ts: at, seq, lineage: [{ step: 'capture', at, outcome: 'quarantined' }] },
      position,
    },
    entry: { flow: flow.id, key: auditKey, step: 'capture', at, source, eventId: id, outcome: 'quarantined', reason: refusal.auditReason ?? reason },
  };
}

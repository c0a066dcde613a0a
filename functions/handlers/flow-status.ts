import type { AuditEntry, AuditWindow, QueueDepth, QueueDepths } from '../ports';

export interface QueueStatus {
  readonly id: string;
  readonly name: string;
  readonly depth: QueueDepth;
  /** Absent for a queue without a DLQ (a stream source's on-failure queue is itself a dead-letter place). */
  readonly dlq?: QueueDepth;
}

/** Delivery lag of the newest deliveries, in ms. */
export interface LagStatus {
  /** Lag of the newest delivery measured. */
  readonly latestMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
  /**
   * What the lag is measured from: `source`, the source `ts` of the delivered change (as the `LagMs` metric);
   * `capture`, the capture entry of the same event, for deliver entries written before they carried `ts`;
   * `mixed` when the samples hold both.
   */
  readonly from: 'source' | 'capture' | 'mixed';
}

export interface FlowStatus {
  readonly flow: string;
  readonly at: number;
  readonly windowMs: number;
  readonly queues: readonly QueueStatus[];
  /** Audit entries of the last hour by outcome. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Omitted when no delivery of the window can be measured (e.g. audit level `errors`). */
  readonly lag?: LagStatus;
  /**
   * Fields `detectPii: "flag"` found in the window's records that the flow's `pii` does not declare (nor reach
   * through its transform), with how many records held each: fields to declare. Omitted when there are none.
   */
  readonly undeclaredPii?: readonly { readonly field: string; readonly records: number }[];
}

/** A queue whose depth status reports: its DLQ's URL when it has one. */
export interface StatusQueue {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly dlqUrl?: string;
}

export interface StatusDeps {
  readonly depths: QueueDepths;
  readonly audit: AuditWindow;
  readonly now?: () => number;
  /** The flow's declared PII: raw names and the fields they reach through the transform. */
  readonly declaredPii?: readonly string[];
}

const HOUR = 3_600_000;
/** Newest deliveries the lag is computed over. */
const LAG_SAMPLES = 100;

/** The nearest-rank percentile of ascending values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Lag of the newest `deliver`/`delivered` entries: from the delivered change's source `ts` (`detail.ts`), or, for
 * entries without it, from the `captured` entry of their first event.
 */
export function lagOf(entries: readonly AuditEntry[]): LagStatus | undefined {
  const capturedAt = new Map<string, number>();
  for (const e of entries) if (e.outcome === 'captured') capturedAt.set(e.eventId, Math.min(e.at, capturedAt.get(e.eventId) ?? Infinity));
  const lags: number[] = [];
  let fromSource = 0;
  const delivered = entries.filter((e) => e.step === 'deliver' && e.outcome === 'delivered').sort((a, b) => b.at - a.at);
  for (const d of delivered) {
    const ts = d.detail?.ts;
    if (typeof ts === 'number' && Number.isFinite(ts) && ts > 0) {
      lags.push(Math.max(0, d.at - ts));
      fromSource++;
    } else {
      const ids = Array.isArray(d.detail?.eventIds) ? (d.detail.eventIds as unknown[]).filter((x): x is string => typeof x === 'string') : [d.eventId];
      const from = Math.min(...ids.map((id) => capturedAt.get(id) ?? Infinity));
      if (Number.isFinite(from)) lags.push(Math.max(0, d.at - from));
    }
    if (lags.length >= LAG_SAMPLES) break;
  }
  if (lags.length === 0) return undefined;
  const sorted = [...lags].sort((a, b) => a - b);
  return {
    latestMs: lags[0]!,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1]!,
    samples: lags.length,
    from: fromSource === lags.length ? 'source' : fromSource === 0 ? 'capture' : 'mixed',
  };
}

/** A flow's queue and DLQ depths, the last hour's audit outcomes, and delivery lag. */
export async function flowStatus(flowId: string, queues: readonly StatusQueue[], deps: StatusDeps): Promise<FlowStatus> {
  const at = (deps.now ?? Date.now)();
  const [queueStatus, entries] = await Promise.all([
    Promise.all(
      queues.map(async (q): Promise<QueueStatus> => {
        const [depth, dlq] = await Promise.all([deps.depths.depth(q.url), q.dlqUrl ? deps.depths.depth(q.dlqUrl) : undefined]);
        return { id: q.id, name: q.name, depth, ...(dlq ? { dlq } : {}) };
      }),
    ),
    deps.audit.between(flowId, at - HOUR, at),
  ]);
  const outcomes: Record<string, number> = {};
  for (const e of entries) outcomes[e.outcome] = (outcomes[e.outcome] ?? 0) + 1;
  const lag = lagOf(entries);
  const undeclaredPii = undeclaredPiiOf(entries, deps.declaredPii ?? []);
  return { flow: flowId, at, windowMs: HOUR, queues: queueStatus, outcomes, ...(lag ? { lag } : {}), ...(undeclaredPii.length > 0 ? { undeclaredPii } : {}) };
}

/** Flagged fields (`detail.piiFlagged` of resolve entries) not covered by a declared one; `contacts.0.email` is covered by `contacts`. */
export function undeclaredPiiOf(entries: readonly AuditEntry[], declared: readonly string[]): { field: string; records: number }[] {
  const within = (a: string, b: string) => a === b || a.startsWith(`${b}.`);
  const counts = new Map<string, number>();
  for (const e of entries) {
    if (e.step !== 'resolve' || !Array.isArray(e.detail?.piiFlagged)) continue;
    for (const f of e.detail.piiFlagged as unknown[]) {
      if (typeof f !== 'string' || declared.some((d) => within(f, d) || within(d, f))) continue;
      counts.set(f, (counts.get(f) ?? 0) + 1);
    }
  }
  return [...counts].map(([field, records]) => ({ field, records })).sort((a, b) => b.records - a.records || a.field.localeCompare(b.field));
}

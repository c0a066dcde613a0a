import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AuditEntry } from '../../functions/ports';

/** Depth of one queue: visible plus in flight (ApproximateNumberOfMessages + ...NotVisible). */
export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly total: number;
}

export interface QueueStatus {
  readonly id: string;
  readonly name: string;
  readonly depth: QueueDepth;
  /** Absent for a queue without a DLQ (a stream source's on-failure queue is itself a dead-letter place). */
  readonly dlq?: QueueDepth;
}

/** Time from capture to delivery of the newest deliveries, in ms. */
export interface LagStatus {
  /** Lag of the newest delivery with a known capture time. */
  readonly latestMs: number;
  readonly p50Ms: number;
  readonly maxMs: number;
  readonly samples: number;
  /** What the lag is measured from: the capture entry of the same event (the deliver entries carry no change time). */
  readonly from: 'capture';
}

export interface FlowStatus {
  readonly flow: string;
  readonly at: number;
  readonly windowMs: number;
  readonly queues: readonly QueueStatus[];
  /** Audit entries of the last hour by outcome. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Omitted when no delivery of the window has a matching capture entry (e.g. audit level `errors`). */
  readonly lag?: LagStatus;
}

export interface StatusDeps {
  readonly sqs: SQSClient;
  readonly audit: { between(flow: string, since: number, until: number): Promise<AuditEntry[]> };
  readonly now?: () => number;
}

export interface FlowQueues {
  readonly queues: Readonly<Record<string, { readonly name: string; readonly url: string; readonly dlq: { readonly url: string } }>>;
  readonly streamFailureQueues: Readonly<Record<string, { readonly name: string; readonly url: string }>>;
}

const HOUR = 3_600_000;
/** Newest deliveries the lag is computed over. */
const LAG_SAMPLES = 100;

async function depthOf(sqs: SQSClient, url: string): Promise<QueueDepth> {
  const got = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  const visible = Number(got.Attributes?.ApproximateNumberOfMessages ?? 0);
  const inFlight = Number(got.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  return { visible, inFlight, total: visible + inFlight };
}

/** Lag of the newest `deliver`/`delivered` entries against the `captured` entry of their first event. */
export function lagOf(entries: readonly AuditEntry[]): LagStatus | undefined {
  const capturedAt = new Map<string, number>();
  for (const e of entries) if (e.outcome === 'captured') capturedAt.set(e.eventId, Math.min(e.at, capturedAt.get(e.eventId) ?? Infinity));
  const lags: { at: number; lag: number }[] = [];
  const delivered = entries.filter((e) => e.step === 'deliver' && e.outcome === 'delivered').sort((a, b) => b.at - a.at);
  for (const d of delivered) {
    const ids = Array.isArray(d.detail?.eventIds) ? (d.detail.eventIds as unknown[]).filter((x): x is string => typeof x === 'string') : [d.eventId];
    const from = Math.min(...ids.map((id) => capturedAt.get(id) ?? Infinity));
    if (Number.isFinite(from)) lags.push({ at: d.at, lag: Math.max(0, d.at - from) });
    if (lags.length >= LAG_SAMPLES) break;
  }
  if (lags.length === 0) return undefined;
  const sorted = lags.map((l) => l.lag).sort((a, b) => a - b);
  return { latestMs: lags[0]!.lag, p50Ms: sorted[Math.floor((sorted.length - 1) / 2)]!, maxMs: sorted[sorted.length - 1]!, samples: lags.length, from: 'capture' };
}

/** A flow's queue and DLQ depths, the last hour's audit outcomes, and delivery lag. */
export async function flowStatus(flowId: string, queues: FlowQueues, deps: StatusDeps): Promise<FlowStatus> {
  const at = (deps.now ?? Date.now)();
  const [queueStatus, entries] = await Promise.all([
    Promise.all([
      ...Object.entries(queues.queues).map(async ([id, q]) => ({ id, name: q.name, depth: await depthOf(deps.sqs, q.url), dlq: await depthOf(deps.sqs, q.dlq.url) })),
      ...Object.entries(queues.streamFailureQueues).map(async ([sourceId, q]) => ({ id: `capture-${sourceId}-failures`, name: q.name, depth: await depthOf(deps.sqs, q.url) })),
    ]),
    deps.audit.between(flowId, at - HOUR, at),
  ]);
  const outcomes: Record<string, number> = {};
  for (const e of entries) outcomes[e.outcome] = (outcomes[e.outcome] ?? 0) + 1;
  const lag = lagOf(entries);
  return { flow: flowId, at, windowMs: HOUR, queues: queueStatus, outcomes, ...(lag ? { lag } : {}) };
}

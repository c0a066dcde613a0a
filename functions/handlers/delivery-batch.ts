import type { SQSRecord } from 'aws-lambda';
import type { FlowConfig } from '../config/schema';
import { changeTimeOf, compareClock, type Clock as ChangeClock, type RecordView } from '../core/merge';
import type { AuditEntry, AuditLog, DeliveryNote, LogPort, MetricsPort, Publisher, StoredState } from '../ports';
import { auditableOwned } from './audit-policy';
import { sourceOfVersion } from './record-lineage';
import { deliveryMessageSchema, parseBody, type DeliveryMessage } from './step-messages';
import { type SqsBatch } from './sqs-batch';

/** The delivery messages of one key in a batch: delivered once, at the newest version asked for. */
export interface DeliveryGroup {
  readonly key: string;
  version: number;
  readonly eventIds: Set<string>;
  readonly messageIds: string[];
  /** Who asked for a replay of the key: deliver even where the target's marker has this version. */
  replay?: { readonly by: string; readonly at: number };
}

/** Where a delivery parks what its target refuses for good: the delivery queue's DLQ. */
export interface Parking {
  readonly publisher: Publisher;
  readonly dlqUrl: string;
}

/**
 * Ack-and-park: the messages of keys the target refused for good go to the DLQ now, rather than failing until SQS
 * moves them there; if that send fails (or there is no DLQ to send to), they fail and get there after their retries.
 * Called once their audit is written: a group whose audit failed is retried whole, and parked by that retry.
 */
export async function parkRefused(batch: SqsBatch, park: Parking | undefined, groups: readonly DeliveryGroup[], why: string): Promise<void> {
  const ids = groups.filter((g) => !g.messageIds.some((id) => batch.isFailed(id))).flatMap((g) => g.messageIds);
  if (ids.length === 0) return;
  if (!park) {
    batch.fail(ids, `${why}: failing until the DLQ`);
    return;
  }
  await batch.forward(park.publisher, park.dlqUrl, ids, 'parking refused records in the DLQ failed');
}

/**
 * Sends back to the delivery queue, as new messages, the groups on their last receive that were never tried (the
 * invocation's time ran out first, or another delivery held the key): failed, they would reach the DLQ without an
 * attempt. A new message has receives of its own; each invocation tries some, so every one is tried in the end.
 * `delaySeconds`: the pause the API asked for, so they do not come back inside it.
 */
export async function requeueUntried(batch: SqsBatch, requeue: { readonly publisher: Publisher; readonly queueUrl: () => string }, groups: readonly DeliveryGroup[], delaySeconds = 0): Promise<void> {
  const ids = groups.flatMap((g) => g.messageIds);
  if (ids.length > 0) await batch.forward(requeue.publisher, requeue.queueUrl(), ids, 'sending untried records back to the queue failed', { single: true, ...(delaySeconds > 0 ? { delaySeconds } : {}) });
}

/** Coalesces a batch's delivery messages by key; a message that is not one of this flow's fails alone. */
export function groupDeliveries(records: readonly SQSRecord[], flowId: string, batch: SqsBatch): Map<string, DeliveryGroup> {
  const groups = new Map<string, DeliveryGroup>();
  for (const record of records) {
    const parsed = parseBody(deliveryMessageSchema, record.body);
    if (!parsed.ok || parsed.value.flow !== flowId) {
      batch.fail([record.messageId], `invalid delivery message: ${parsed.ok ? `flow "${parsed.value.flow}"` : parsed.errors.join('; ')}`);
      continue;
    }
    const m: DeliveryMessage = parsed.value;
    const group = groups.get(m.key) ?? { key: m.key, version: 0, eventIds: new Set<string>(), messageIds: [] };
    group.version = Math.max(group.version, m.version);
    if (m.replay) group.replay ??= m.replay;
    m.eventIds.forEach((id) => group.eventIds.add(id));
    group.messageIds.push(record.messageId);
    groups.set(m.key, group);
  }
  return groups;
}


/**
 * The winning clock of a view: the newest (by the flow's clock order) of the clocks behind it; undefined for a view
 * with none. Written into a DynamoDB target's origin marker so that a flow capturing the item back orders the relayed
 * change exactly as the flow that produced it did (same ts, seq and id), instead of as a new, later change.
 */
export function winningClockOf(view: RecordView, flow: FlowConfig): ChangeClock | undefined {
  const order = flow.conflict?.sourceOrder ?? flow.sources.map((s) => s.id);
  let best: ChangeClock | undefined;
  for (const c of Object.values(view.clocks ?? {})) if (!best || compareClock(c, best, order) > 0) best = c;
  return best;
}

export interface DeliveredRecord {
  readonly key: string;
  readonly version: number;
  /** Source time of the newest change delivered. */
  readonly ts: number;
}

/**
 * Metrics and the one log line of a delivery batch: counts per outcome, a `LagMs` sample per delivered record
 * (source time to delivery), and the slowest record, which the "slowest deliveries" saved query reads.
 */
export function reportDeliveries(
  { logger, metrics }: { logger: LogPort; metrics: MetricsPort },
  context: { flow: string; target: string; messages: number; keys: number; now: number },
  delivered: readonly DeliveredRecord[],
  counts: { skipped: number; failed: number; rejected?: number },
): void {
  metrics.count('Delivered', delivered.length);
  metrics.count('DeliveryFailed', counts.failed);
  if (counts.rejected !== undefined) metrics.count('DeliveryRejected', counts.rejected);
  let slowest: (DeliveredRecord & { lagMs: number }) | undefined;
  for (const d of delivered) {
    const lagMs = Math.max(0, context.now - d.ts);
    metrics.lagMs?.(lagMs);
    if (!slowest || lagMs > slowest.lagMs) slowest = { ...d, lagMs };
  }
  logger.info('delivery batch done', {
    flow: context.flow,
    target: context.target,
    messages: context.messages,
    keys: context.keys,
    delivered: delivered.length,
    ...counts,
    ...(slowest ? { key: slowest.key, version: slowest.version, lagMs: slowest.lagMs } : {}),
  });
}

/** Where one delivery batch runs: its flow, target and time. */
export interface DeliveryContext {
  readonly flow: FlowConfig;
  readonly targetId: string;
  readonly now: number;
}

/** One key's decision in a delivery batch, with the source time of what was delivered. */
export interface DeliveryDecision {
  readonly group: DeliveryGroup;
  readonly entry: AuditEntry;
}

/** What the target's delivered marker records of a delivery, for lineage. */
export function deliveryNote(ctx: DeliveryContext, group: DeliveryGroup, state: StoredState): DeliveryNote {
  // The changes that made the delivered version come first: a batch delivering the current state may carry the
  // messages of earlier versions only, when another batch's message for this version is still on its way.
  const made = (state.recent ?? []).filter((d) => d.version === state.version && d.step === 'resolve').map((d) => d.eventId);
  return { at: ctx.now, eventIds: [...new Set([...made, ...group.eventIds])], ...(group.replay ? { replayedBy: group.replay.by } : {}) };
}

/** The `deliver` audit entry of a key's state; `detail.ts` is the source time status measures lag from. */
export function deliveryEntry(
  ctx: DeliveryContext,
  group: DeliveryGroup,
  state: StoredState,
  outcome: AuditEntry['outcome'],
  reason?: string,
  extra: Record<string, unknown> = {},
): AuditEntry {
  const eventIds = [...group.eventIds];
  return {
    flow: ctx.flow.id,
    key: group.key,
    step: 'deliver',
    at: ctx.now,
    source: sourceOfVersion(state.recent ?? [], state.version),
    eventId: eventIds[0] ?? '',
    outcome,
    ...(reason !== undefined ? { reason } : {}),
    version: state.version,
    target: ctx.targetId,
    detail: { eventIds, hash: state.view.hash, deleted: state.view.deleted, ts: changeTimeOf(state.view), ...(group.replay ? { replayedBy: group.replay.by } : {}), ...extra },
  };
}

/** Writes a batch's audit entries (their messages fail together if that fails), then its metrics and log line. */
export async function finishDeliveries(
  deps: { audit: AuditLog; logger: LogPort; metrics: MetricsPort },
  batch: SqsBatch,
  ctx: DeliveryContext & { messages: number; keys: number },
  decisions: readonly DeliveryDecision[],
  counts: { failed: number; rejected?: number },
  groups: Iterable<DeliveryGroup> = [],
): Promise<void> {
  const decided = new Set(decisions.filter((d) => d.entry.outcome === 'failed').map((d) => d.group));
  const lastTries = [...groups].filter((g) => !decided.has(g)).flatMap((g) => givenUp(ctx, batch, g) ?? []);
  const kept = auditableOwned(ctx.flow, [...decisions, ...lastTries].map((d) => ({ entry: d.entry, owner: d.group.messageIds })));
  if (kept.length > 0) await batch.attemptItems(kept.map((e) => e.owner), 'audit write failed', () => deps.audit.write(kept.map((e) => e.entry)));
  const delivered = decisions.filter((d) => d.entry.outcome === 'delivered');
  reportDeliveries(
    deps,
    { flow: ctx.flow.id, target: ctx.targetId, messages: ctx.messages, keys: ctx.keys, now: ctx.now },
    delivered.map((d) => ({ key: d.group.key, version: d.entry.version ?? 0, ts: Number(d.entry.detail?.ts ?? 0) })),
    { skipped: decisions.filter((d) => d.entry.outcome === 'skipped').length, ...counts },
  );
}

/**
 * The `failed` entry of a key whose messages fail on their last receive (SQS moves them to the DLQ next), so
 * lineage tells why the target never got the version; undefined while retries remain.
 */
function givenUp(ctx: DeliveryContext, batch: SqsBatch, group: DeliveryGroup): DeliveryDecision | undefined {
  const last = batch.lastTry(group.messageIds);
  if (!last) return undefined;
  const eventIds = [...group.eventIds];
  const entry: AuditEntry = {
    flow: ctx.flow.id,
    key: group.key,
    step: 'deliver',
    at: ctx.now,
    source: '',
    eventId: eventIds[0] ?? '',
    outcome: 'failed',
    reason: last.reason,
    version: group.version,
    target: ctx.targetId,
    detail: { eventIds, attempts: last.attempts, parked: 'dlq' },
  };
  return { group, entry };
}

import type { RecordView } from '../core/merge';
import type { LogPort, MetricsPort } from '../ports';

/** Time of the newest change behind a view: lag is measured from it. */
export function changeTimeOf(view: RecordView): number {
  return Math.max(0, ...Object.values(view.clocks ?? {}).map((c) => c.ts));
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

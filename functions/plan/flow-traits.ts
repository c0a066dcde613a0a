import type { FlowConfig } from '../config/schema';
import { deletesOffReason } from '../core/pull/delete-inference';

/** Whether a flow can infer deletes: a `schedule` source whose pulls may (full mode, delete detection on). */
export function infersDeletes(flow: FlowConfig): boolean {
  return flow.sources.some((s) => s.type === 'schedule' && deletesOffReason(s) === undefined);
}

/** Whether a flow takes Debezium change events: a `webhook` source of format `debezium`. */
export function hasDebeziumSource(flow: FlowConfig): boolean {
  return flow.sources.some((s) => s.type === 'webhook' && s.format === 'debezium');
}

/** Whether a flow has a source whose truncates delete the table's keys (a Debezium source with `onTruncate: "delete"`). */
export function deletesOnTruncate(flow: FlowConfig): boolean {
  return flow.sources.some((s) => s.type === 'webhook' && s.format === 'debezium' && s.onTruncate === 'delete');
}

/** Whether a flow's conflicts wait for review (strategy `manual`): it gets a conflict sweep and announces conflicts. */
export function isManualFlow(flow: FlowConfig): boolean {
  return flow.conflict.strategy === 'manual';
}

/** Whether a flow's state may hold PII as it is: a target is meant to receive declared fields unmasked (`allowPii`). */
export function keepsPiiUnmasked(flow: Pick<FlowConfig, 'targets'>): boolean {
  return flow.targets.some((t) => (t.allowPii?.length ?? 0) > 0);
}

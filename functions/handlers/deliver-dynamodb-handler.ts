import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FlowConfig } from '../config/schema';
import { type AuditLog, type Clock, type LogPort, type MetricsPort, type StateStore, type TargetWriter, telemetryOf } from '../ports';
import { isRefusedContent, safeErrorText } from '../core/error-text';
import { changeTimeOf } from '../core/merge';
import { deliveryEntry, deliveryNote, finishDeliveries, groupDeliveries, parkRefused, winningClockOf, type DeliveryDecision, type DeliveryGroup, type Parking } from './delivery-batch';
import { runSqsBatch } from './sqs-batch';
import { readStates } from './batch-states';

/** Dependencies of the delivery function of one DynamoDB target. */
export interface DeliverDynamoDbDeps {
  readonly flow: FlowConfig;
  readonly targetId: string;
  readonly stateStore: StateStore;
  /** Writes the current state to the target table (e.g. DynamoDbTargetWriter). */
  readonly writer: TargetWriter;
  readonly audit: AuditLog;
  /**
   * Where a record DynamoDB refuses for what it holds (an item over 400 KB, an attribute name it cannot take) is
   * parked: its messages go to the delivery queue's DLQ at once. Without it, they fail until SQS moves them there.
   */
  readonly park?: Parking;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

export type DeliverDynamoDbHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

export function createDeliverDynamoDbHandler(deps: DeliverDynamoDbDeps): DeliverDynamoDbHandler {
  const { flow, targetId, stateStore, writer } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  if (!flow.targets.some((t) => t.id === targetId)) throw new Error(`flow "${flow.id}" has no target "${targetId}"`);

  return (event) =>
    runSqsBatch(event.Records, logger, async (batch) => {
      const groups = groupDeliveries(event.Records, flow.id, batch);
      if (groups.size === 0) return;
      if (groups.size === 1) logger.setCorrelationId?.([...groups.values()][0]!.eventIds.values().next().value);

      const all = [...groups.values()];
      const ctx = { flow, targetId, now: clock.now() };
      const states = await readStates(batch, stateStore, flow.id, all);
      // Keys failing on their last receive are still audited as given up.
      if (!states) return finishDeliveries({ audit: deps.audit, logger, metrics }, batch, { ...ctx, messages: event.Records.length, keys: groups.size }, [], { failed: groups.size }, all);
      const decisions: DeliveryDecision[] = [];
      const refused: DeliveryGroup[] = [];
      let failed = 0;
      await Promise.all(
        all.map(async (group) => {
          const state = states.get(group.key);
          if (!state || state.version < group.version) {
            // The state read lags the message (replica or eventual read): try again later.
            failed++;
            batch.fail(group.messageIds, `state of ${group.key} is older than version ${group.version}`);
            return;
          }
          const winner = winningClockOf(state.view, flow);
          const outcome = await batch.attempt(group.messageIds, `delivery to "${targetId}" failed`, () =>
            refusing(!state.view.deleted, writer.write({
              flow: flow.id,
              key: group.key,
              targetId,
              version: state.version,
              view: state.view,
              ts: changeTimeOf(state.view),
              ...(winner ? { clock: { seq: winner.seq, id: winner.id } } : {}),
              ...(group.replay ? { replay: true } : {}),
              note: deliveryNote(ctx, group, state),
            })),
          );
          if (!outcome) {
            failed++;
            return;
          }
          if (typeof outcome === 'object') {
            // Retrying cannot help: audited with why, and parked.
            refused.push(group);
            decisions.push({ group, entry: deliveryEntry(ctx, group, state, 'failed', outcome.refused, { parked: deps.park ? 'dlq' : 'retries then dlq' }) });
            return;
          }
          decisions.push({
            group,
            // The writer recorded the delivery in the target's marker, where lineage reads it.
            entry: outcome === 'written' ? { ...deliveryEntry(ctx, group, state, 'delivered'), heldBy: 'marker' } : deliveryEntry(ctx, group, state, 'skipped', 'target already has this version or a newer one'),
          });
        }),
      );

      await finishDeliveries({ audit: deps.audit, logger, metrics }, batch, { ...ctx, messages: event.Records.length, keys: groups.size }, decisions, { failed, rejected: refused.length }, groups.values());
      await parkRefused(batch, deps.park, refused, `DynamoDB refused the items of "${targetId}"`);
    });
}

/**
 * An upsert's outcome, or why DynamoDB refused the item for what it holds (an error name and a fixed phrase, no
 * values). A delete is never taken for refused: it records its tombstone before it deletes, and needs only its key.
 */
async function refusing<T>(upsert: boolean, write: Promise<T>): Promise<T | { refused: string }> {
  try {
    return await write;
  } catch (err) {
    if (upsert && isRefusedContent(err)) return { refused: `DynamoDB refused the item: ${safeErrorText(err)}` };
    throw err;
  }
}

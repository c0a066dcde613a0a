import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FlowConfig } from '../../lib/config/schema';
import {
  type AuditEntry,
  type AuditLog,
  type Clock,
  type LogPort,
  type MetricsPort,
  type StateStore,
  type TargetWriter,
  telemetryOf,
} from '../ports';
import { changeTimeOf, groupDeliveries, reportDeliveries, winningClockOf, type DeliveryGroup } from './delivery-batch';
import { auditable, runSqsBatch } from './sqs-batch';

/** Dependencies of the delivery function of one DynamoDB target. */
export interface DeliverDynamoDbDeps {
  readonly flow: FlowConfig;
  readonly targetId: string;
  readonly stateStore: StateStore;
  /** Writes the current state to the target table (e.g. DynamoDbTargetWriter). */
  readonly writer: TargetWriter;
  readonly audit: AuditLog;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

export type DeliverDynamoDbHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

type KeyGroup = DeliveryGroup;

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
      const states = await batch.attempt(all.flatMap((g) => g.messageIds), 'state read failed', () =>
        stateStore.getMany(flow.id, [...groups.keys()]),
      );
      if (!states) return;

      const now = clock.now();
      const entries: { group: KeyGroup; entry: AuditEntry; ts: number }[] = [];
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
          const ts = changeTimeOf(state.view);
          const winner = winningClockOf(state.view, flow);
          const outcome = await batch.attempt(group.messageIds, `delivery to "${targetId}" failed`, () =>
            writer.write({
              flow: flow.id,
              key: group.key,
              targetId,
              version: state.version,
              view: state.view,
              ts,
              ...(winner ? { clock: { seq: winner.seq, id: winner.id } } : {}),
            }),
          );
          if (!outcome) {
            failed++;
            return;
          }
          const eventIds = [...group.eventIds];
          entries.push({
            group,
            ts,
            entry: {
              flow: flow.id,
              key: group.key,
              step: 'deliver',
              at: now,
              source: '',
              eventId: eventIds[0] ?? '',
              outcome: outcome === 'written' ? 'delivered' : 'skipped',
              reason: outcome === 'written' ? undefined : 'target already has this version or a newer one',
              version: state.version,
              target: targetId,
              // ts: source time of the newest change delivered, which status measures lag from.
              detail: { eventIds, hash: state.view.hash, deleted: state.view.deleted, ts },
            },
          });
        }),
      );

      const kept = auditable(flow, entries.map((e) => e.entry));
      if (kept.length > 0) {
        await batch.attempt(entries.flatMap((e) => e.group.messageIds), 'audit write failed', () => deps.audit.write(kept));
      }
      const delivered = entries.filter((e) => e.entry.outcome === 'delivered');
      reportDeliveries(
        { logger, metrics },
        { flow: flow.id, target: targetId, messages: event.Records.length, keys: groups.size, now },
        delivered.map((e) => ({ key: e.group.key, version: e.entry.version ?? 0, ts: e.ts })),
        { skipped: entries.length - delivered.length, failed },
      );
    });
}

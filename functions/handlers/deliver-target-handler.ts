import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FlowConfig } from '../config/schema';
import { deliverySizing } from '../plan/plan';
import { changeTimeOf } from '../core/merge';
import { safeErrorText } from '../core/error-text';
import {
  type AuditEntry,
  type AuditLog,
  type BatchTargetWriter,
  type Clock,
  type LogPort,
  type MetricsPort,
  type Publisher,
  type SendLeases,
  type Sleep,
  type StateStore,
  type StoredState,
  type TargetWrite,
  telemetryOf,
  timerSleep,
} from '../ports';
import { deliveryEntry, deliveryNote, finishDeliveries, groupDeliveries, parkRefused, requeueUntried, type DeliveryDecision, type DeliveryGroup, type Parking } from './delivery-batch';
import { runSqsBatch } from './sqs-batch';
import { readStates } from './batch-states';

/** Dependencies of the delivery function of an S3, EventBridge, HTTP or SQS target. */
export interface DeliverTargetDeps {
  readonly flow: FlowConfig;
  readonly targetId: string;
  readonly stateStore: StateStore;
  /** Keeps one delivery of a key in flight at a time (usually the state store itself). */
  readonly leases: SendLeases;
  /** Waits between tries of a lease another delivery holds (tests pass one that does not wait). */
  readonly sleep?: Sleep;
  readonly writer: BatchTargetWriter;
  readonly audit: AuditLog;
  /**
   * Where a permanently rejected record (e.g. HTTP 400) is parked: its messages are sent to the delivery queue's
   * DLQ and acknowledged. Without it, such messages fail until SQS moves them to the DLQ after maxReceiveCount.
   */
  readonly park?: Parking;
  /**
   * The delivery's own queue: a key never tried on its last receive (the time budget ran out first, or another
   * delivery held it) is sent back there as a new message rather than failed into the DLQ without an attempt.
   */
  readonly requeue?: { readonly publisher: Publisher; readonly queueUrl: () => string };
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

export type DeliverTargetHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

type KeyGroup = DeliveryGroup;

/** Waits before each further try of a lease another delivery holds. */
const LEASE_WAITS_MS = [100, 200, 400, 800];

/**
 * Delivers the CURRENT state of each key of a batch (messages coalesced by key) to a target without conditional
 * writes. A key whose recorded delivered version is already the state's version is skipped; one whose state read
 * is older than the message is retried. Each key is sent under a lease on its delivered marker, so two deliveries of
 * one key never overlap (the older one could land last); a key whose lease another delivery holds is retried. After a
 * write the delivered version is recorded (only ever upwards) and the lease let go.
 */
export function createDeliverTargetHandler(deps: DeliverTargetDeps): DeliverTargetHandler {
  const { flow, targetId, stateStore, leases, writer } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const target = flow.targets.find((t) => t.id === targetId);
  if (!target) throw new Error(`flow "${flow.id}" has no target "${targetId}"`);
  // A delivery holds a key's lease for the delivery function's timeout, which no send outlives.
  const leaseMs = deliverySizing(target).timeoutSeconds * 1000;
  const sleep = deps.sleep ?? timerSleep;

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
      const entries: DeliveryDecision[] = [];
      const entry = (group: KeyGroup, state: StoredState, outcome: AuditEntry['outcome'], reason?: string, extra?: Record<string, unknown>) =>
        deliveryEntry(ctx, group, state, outcome, reason, extra);

      const toWrite: { group: KeyGroup; state: StoredState; change: TargetWrite }[] = [];
      let failed = 0;
      for (const group of all) {
        const state = states.get(group.key);
        if (!state || state.version < group.version) {
          // The state read lags the message: try again later.
          failed++;
          batch.fail(group.messageIds, `state of ${group.key} is older than version ${group.version}`);
          continue;
        }
        if (!group.replay && (state.delivered[targetId]?.version ?? 0) >= state.version) {
          entries.push({ group, entry: entry(group, state, 'skipped', 'target already has this version or a newer one') });
          continue;
        }
        const ts = changeTimeOf(state.view);
        const remoteId = state.delivered[targetId]?.remoteId;
        toWrite.push({ group, state, change: { flow: flow.id, key: group.key, targetId, version: state.version, view: state.view, ts, ...(remoteId ? { remoteId } : {}) } });
      }

      // One owner per invocation: a retried key of this batch may take its own lease again.
      const owner = randomUUID();
      const untried: KeyGroup[] = [];
      const claims = await Promise.all(toWrite.map(({ group, state }) => batch.attempt(group.messageIds, 'taking the send lease failed', () => claimSoon(group, state.version))));
      const leased = toWrite.filter(({ group, state }, i) => {
        const claim = claims[i];
        if (claim === 'claimed') return true;
        if (claim === 'delivered') entries.push({ group, entry: entry(group, state, 'skipped', 'target already has this version or a newer one') });
        else if (claim === 'taken' && deps.requeue && batch.onLastReceive(group.messageIds)) untried.push(group);
        else {
          failed++;
          if (claim === 'taken') batch.fail(group.messageIds, `another delivery of ${group.key} to "${targetId}" is in flight`);
        }
        return false;
      });
      toWrite.splice(0, toWrite.length, ...leased);

      let rejected = 0;
      // The latest time the API asked to be left alone until: untried keys go back to the queue delayed that long.
      let notBefore = 0;
      const refused: KeyGroup[] = [];
      if (toWrite.length > 0) {
        const results = await batch.attempt(toWrite.flatMap((w) => w.group.messageIds), `delivery to "${targetId}" failed`, () =>
          writer.writeBatch(toWrite.map((w) => w.change)),
        );
        if (!results) {
          failed += toWrite.length;
          await Promise.all(toWrite.map(({ group }) => dropLease(group.key)));
        }
        const parked: { group: KeyGroup; entry: AuditEntry }[] = [];
        await Promise.all(
          (results ? toWrite : []).map(async ({ group, state }) => {
            const result = results!.get(group.key) ?? { status: 'retry' as const, reason: 'the writer gave no result' };
            if (result.status === 'written') {
              const marked = await batch.attempt(group.messageIds, 'recording the delivered version failed', async () => {
                await leases.markSent(flow.id, targetId, group.key, owner, state.version, state.view.hash, deliveryNote(ctx, group, state));
                return true;
              });
              if (!marked) return;
              entries.push({ group, entry: { ...entry(group, state, 'delivered'), heldBy: 'marker' } });
            } else if (result.status === 'retry') {
              await dropLease(group.key);
              if (result.notBefore !== undefined) notBefore = Math.max(notBefore, result.notBefore);
              if (result.untried && deps.requeue && batch.onLastReceive(group.messageIds)) return void untried.push(group);
              failed++;
              batch.fail(group.messageIds, `delivery of ${group.key} to "${targetId}" failed: ${result.reason}`);
              if (result.notBefore !== undefined) batch.hold(group.messageIds, result.notBefore);
            } else {
              await dropLease(group.key);
              rejected++;
              parked.push({ group, entry: entry(group, state, 'failed', result.reason, { ...result.detail, parked: deps.park ? 'dlq' : 'retries then dlq' }) });
            }
          }),
        );
        refused.push(...parked.map((p) => p.group));
        entries.push(...parked);
      }

      // Before the audit: a key whose requeue fails is failed on its last receive, and audited as given up.
      if (deps.requeue && untried.length > 0) {
        logger.info('untried keys sent back to the queue on their last receive', { flow: flow.id, target: targetId, keys: untried.map((g) => g.key) });
        await requeueUntried(batch, deps.requeue, untried, Math.max(0, (notBefore - clock.now()) / 1000));
      }
      await finishDeliveries({ audit: deps.audit, logger, metrics }, batch, { ...ctx, messages: event.Records.length, keys: groups.size }, entries, { failed, rejected }, groups.values());
      await parkRefused(batch, deps.park, refused, `delivery to "${targetId}" rejected`);

      /**
       * Takes a key's lease, waiting a little (up to 1.5 s) while another delivery holds it: most sends end within
       * that, and a key retried by SQS would wait for the queue's visibility timeout instead.
       */
      async function claimSoon(group: KeyGroup, version: number): Promise<'claimed' | 'taken' | 'delivered'> {
        for (let attempt = 0; ; attempt++) {
          const now = attempt === 0 ? ctx.now : clock.now();
          const claim = await leases.claimSend(flow.id, targetId, group.key, version, owner, now, now + leaseMs, group.replay !== undefined);
          if (claim !== 'taken' || attempt === LEASE_WAITS_MS.length) return claim;
          await sleep(LEASE_WAITS_MS[attempt]!);
        }
      }

      /** Lets a lease go after a failed write, so the retry need not wait for it to expire (if this fails, it expires). */
      async function dropLease(key: string): Promise<void> {
        await leases.dropSend(flow.id, targetId, key, owner).catch((err: unknown) => logger.warn('letting the send lease go failed; it expires on its own', { flow: flow.id, target: targetId, error: safeErrorText(err) }));
      }

    });
}

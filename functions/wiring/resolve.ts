import { createConflictSweeper } from '../handlers/conflict-sweeper';
import { readingPacks } from '../handlers/packed-batch';
import { createResolveHandler } from '../handlers/resolve-handler';
import type { EventPublisher } from '../ports';
import { auditLog, conflictStore, quarantineStore, stateStore, telemetry, type StepContext } from './step-context';

export interface ResolveWiring {
  /** Delivery queue of each target, by target id. */
  readonly deliverQueueUrls: Readonly<Record<string, string>>;
  /** Where newly opened conflicts are announced (manual review). */
  readonly events?: EventPublisher;
  /** Set when a source deletes on truncate: the resolve queue, where a truncate's deletes go. */
  readonly resolveQueueUrl?: string;
}

export function resolve(ctx: StepContext, wiring: ResolveWiring) {
  // A DynamoDB target's deliveries are recorded on its items: reading its markers would cost a read per key for nothing.
  const state = stateStore(ctx, { markers: 'state-table' });
  const handler = createResolveHandler({
    flow: ctx.flow,
    stateStore: state,
    audit: auditLog(ctx),
    conflicts: conflictStore(ctx),
    quarantine: quarantineStore(ctx),
    publisher: ctx.publisher,
    deliverQueueUrls: wiring.deliverQueueUrls,
    ...(wiring.events ? { events: wiring.events } : {}),
    ...(wiring.resolveQueueUrl ? { truncates: { index: state, resolveQueueUrl: wiring.resolveQueueUrl } } : {}),
    ...telemetry(ctx),
  });
  return readingPacks(handler, { publisher: ctx.publisher, queueUrl: () => ctx.queueUrl('resolve') });
}

/** The sweep of a manual-review flow; a resolution carrying a large value travels by claim check like any message. */
export function conflictSweep(ctx: StepContext) {
  return createConflictSweeper({
    flow: ctx.flow,
    resolveQueueUrl: ctx.queueUrl('resolve'),
    conflicts: conflictStore(ctx),
    state: stateStore(ctx),
    publisher: ctx.publisher,
    audit: auditLog(ctx),
    ...telemetry(ctx),
  });
}

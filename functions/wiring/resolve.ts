import { createConflictSweeper } from '../handlers/conflict-sweeper';
import { readingPacks } from '../handlers/packed-batch';
import { createResolveHandler } from '../handlers/resolve-handler';
import type { EventPublisher } from '../ports';
import { stepStores, telemetry, type StepContext } from './step-context';

export interface ResolveWiring {
  /** Delivery queue of each target, by target id. */
  readonly deliverQueueUrls: Readonly<Record<string, string>>;
  /** Where newly opened conflicts are announced (manual review). */
  readonly events?: EventPublisher;
  /** Set when a source deletes on truncate: the resolve queue, where a truncate's deletes go. */
  readonly resolveQueueUrl?: string;
}

export function resolve(ctx: StepContext, wiring: ResolveWiring) {
  const stores = stepStores(ctx);
  const stateStore = stores.state();
  const handler = createResolveHandler({
    flow: ctx.flow,
    stateStore,
    audit: stores.audit(),
    conflicts: stores.conflicts(),
    publisher: ctx.publisher,
    deliverQueueUrls: wiring.deliverQueueUrls,
    ...(wiring.events ? { events: wiring.events } : {}),
    ...(wiring.resolveQueueUrl ? { truncates: { index: stateStore, resolveQueueUrl: wiring.resolveQueueUrl } } : {}),
    ...telemetry(ctx),
  });
  return readingPacks(handler, { publisher: ctx.publisher, queueUrl: () => ctx.queueUrl('resolve') });
}

/** The sweep of a manual-review flow; a resolution carrying a large value travels by claim check like any message. */
export function conflictSweep(ctx: StepContext) {
  const stores = stepStores(ctx);
  return createConflictSweeper({
    flow: ctx.flow,
    resolveQueueUrl: ctx.queueUrl('resolve'),
    conflicts: stores.conflicts(),
    state: stores.state(),
    publisher: ctx.publisher,
    audit: stores.audit(),
    ...telemetry(ctx),
  });
}

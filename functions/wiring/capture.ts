import type { CaptureUseCaseDeps } from '../handlers/capture-deps';
import { stepStores, telemetry, type StepContext } from './step-context';

/** What the event-driven capture use cases (stream, SQS, EventBridge via SQS, backfill) share. */
export function captureDeps(ctx: StepContext, sourceId: string): CaptureUseCaseDeps {
  const stores = stepStores(ctx);
  return {
    flow: ctx.flow,
    sourceId,
    transformQueueUrl: ctx.queueUrl('transform'),
    publisher: ctx.publisher,
    audit: stores.audit(),
    quarantine: stores.quarantine(),
    ...telemetry(ctx),
  };
}

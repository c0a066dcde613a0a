import type { CaptureUseCaseDeps } from '../handlers/capture-deps';
import { auditLog, quarantineStore, telemetry, type StepContext } from './step-context';

/** What the event-driven capture use cases (stream, SQS, EventBridge via SQS, backfill) share. */
export function captureDeps(ctx: StepContext, sourceId: string): CaptureUseCaseDeps {
  return {
    flow: ctx.flow,
    sourceId,
    transformQueueUrl: ctx.queueUrl('transform'),
    publisher: ctx.publisher,
    audit: auditLog(ctx),
    quarantine: quarantineStore(ctx),
    ...telemetry(ctx),
  };
}

import { compileTransform, type Transformer } from '../core/transform/pipeline';
import type { CaptureUseCaseDeps } from '../handlers/capture-deps';
import { createConflictSweeper } from '../handlers/conflict-sweeper';
import { createDeliverDynamoDbHandler } from '../handlers/deliver-dynamodb-handler';
import { createDeliverTargetHandler } from '../handlers/deliver-target-handler';
import { createResolveHandler } from '../handlers/resolve-handler';
import { createScheduleCaptureHandler, type ScheduleCaptureDeps } from '../handlers/schedule-capture-handler';
import { createTransformHandler } from '../handlers/transform-handler';
import { createWebhookCaptureHandler } from '../handlers/webhook-capture-handler';
import type { BatchTargetWriter, EventPublisher, PullReader, TargetWriter } from '../ports';
import { stepStores, telemetry, type StepContext } from './step-context';

/*
 * One place per step where its handler is assembled from a StepContext: the Lambda entries (functions/entry) and the
 * local runtime (lib/local/runtime.ts) both call these, so a new dependency is added once.
 */

/** Capture of a webhook source: its signing secret is named by `webhookSecret` (an ARN in AWS, a name locally). */
export function webhookCapture(ctx: StepContext, sourceId: string, webhookSecret: string) {
  const stores = stepStores(ctx);
  return createWebhookCaptureHandler({
    flow: ctx.flow,
    sourceId,
    secrets: ctx.secrets,
    webhookSecrets: { [sourceId]: webhookSecret },
    transformQueueUrl: ctx.queueUrl('transform'),
    publisher: ctx.publisher,
    dedup: stores.dedup(),
    audit: stores.audit(),
    quarantine: stores.quarantine(),
    ...telemetry(ctx),
  });
}

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

/** A schedule source's pull: the reader and how a run continues differ between Lambda and the local runtime. */
export function scheduleCapture(ctx: StepContext, sourceId: string, reader: PullReader, continueSoon?: ScheduleCaptureDeps['continueSoon']) {
  return createScheduleCaptureHandler({ ...captureDeps(ctx, sourceId), reader, pullState: stepStores(ctx).pullState(), ...(continueSoon ? { continueSoon } : {}) });
}

/** The transform, compiled once with the hash key of `hash` masks; a failed read of the key is retried by the next batch. */
export function transform(ctx: StepContext, hashKey: () => Promise<string>) {
  let compiled: Promise<Transformer> | undefined;
  const transformer = (): Promise<Transformer> =>
    (compiled ??= hashKey().then(
      (key) => compileTransform(ctx.flow, { hashKey: key }),
      (err: unknown) => {
        compiled = undefined;
        throw err;
      },
    ));
  const stores = stepStores(ctx);
  return createTransformHandler({
    flow: ctx.flow,
    transformer,
    publisher: ctx.publisher,
    resolveQueueUrl: ctx.queueUrl('resolve'),
    audit: stores.audit(),
    quarantine: stores.quarantine(),
    ...telemetry(ctx),
  });
}

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
  return createResolveHandler({
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

/** Delivery to a DynamoDB target: the writer is a DynamoDbTargetWriter on the target's table. */
export function deliverDynamoDb(ctx: StepContext, targetId: string, writer: TargetWriter) {
  const stores = stepStores(ctx);
  return createDeliverDynamoDbHandler({ flow: ctx.flow, targetId, stateStore: stores.state(), writer, audit: stores.audit(), ...telemetry(ctx) });
}

/** Delivery to an S3, EventBridge, HTTP or SQS target; records the API rejects are parked in `dlqUrl`. */
export function deliverTarget(ctx: StepContext, targetId: string, writer: BatchTargetWriter, dlqUrl: string) {
  const stores = stepStores(ctx);
  return createDeliverTargetHandler({
    flow: ctx.flow,
    targetId,
    stateStore: stores.state(),
    audit: stores.audit(),
    writer,
    park: { publisher: ctx.publisher, dlqUrl },
    ...telemetry(ctx),
  });
}

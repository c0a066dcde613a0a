import { createWebhookCaptureHandler } from '../handlers/webhook-capture-handler';
import { auditLog, dedupStore, quarantineStore, telemetry, type StepContext } from './step-context';

/** Capture of a webhook source: its signing secret is named by `webhookSecret` (an ARN in AWS, a name locally). */
export function webhookCapture(ctx: StepContext, sourceId: string, webhookSecret: string) {
  return createWebhookCaptureHandler({
    flow: ctx.flow,
    sourceId,
    secrets: ctx.secrets,
    webhookSecrets: { [sourceId]: webhookSecret },
    transformQueueUrl: ctx.queueUrl('transform'),
    publisher: ctx.publisher,
    dedup: dedupStore(ctx),
    audit: auditLog(ctx),
    quarantine: quarantineStore(ctx),
    ...telemetry(ctx),
  });
}

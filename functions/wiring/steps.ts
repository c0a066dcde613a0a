import { compileTransform } from '../core/transform/pipeline';
import type { StepContext } from './step-context';
import { transform as transformStep } from './transform';

/*
 * One place per step where its handler is assembled from a StepContext: the Lambda entries (functions/entry) and the
 * local runtime (lib/local/runtime.ts) both call these, so a new dependency is added once. Each step has its own
 * module, so a Lambda entry bundles only its own handler; this module gathers them for the local runtime.
 */
export { captureDeps } from './capture';
export { webhookCapture } from './webhook-capture';
export { scheduleCapture } from './schedule-capture';
export { streamCapture } from './stream-capture';
export { resolve, conflictSweep, type ResolveWiring } from './resolve';
export { deliverDynamoDb, deliverTarget } from './deliver';

/** The transform, its JSON Schema compiled with ajv at the first batch. */
export const transform = (ctx: StepContext, hashKey: () => Promise<string>) => transformStep(ctx, hashKey, compileTransform);

import type { Context } from 'aws-lambda';
import type { LogPort, MetricsPort } from '../ports';
import type { CaptureUseCaseDeps } from '../handlers/capture-deps';
import { captureDeps } from '../wiring/capture';
import { bakedFlow } from './baked';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

/** What every capture handler needs, with the Lambda's logger and metrics. */
export type CaptureDeps = CaptureUseCaseDeps & { readonly logger: LogPort; readonly metrics: MetricsPort };

/** The Lambda handler of a capture function fed by an event source (stream, SQS, EventBridge via SQS). */
export function captureLambda<E, R>(create: (deps: CaptureDeps) => (event: E, context: Context) => Promise<R>) {
  const { ctx, logger, metrics } = lambdaStepContext(bakedFlow(), 'capture');
  return instrumented(create({ ...captureDeps(ctx, requireEnv('SOURCE_ID')), logger: ctx.logger, metrics: ctx.metrics! }), { logger, metrics });
}

import { webhookCapture } from '../wiring/webhook-capture';
import { bakedFlow } from './baked';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const { ctx, logger, metrics } = lambdaStepContext(flow, 'capture', { readsSecrets: true });

export const handler = instrumented(webhookCapture(ctx, requireEnv('SOURCE_ID'), requireEnv('WEBHOOK_SECRET_ARN')), { logger, metrics });

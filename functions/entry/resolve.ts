import { loadEnvironmentParameter } from '../adapters/ssm-environment';
import { withClaimChecks } from '../handlers/claim-checks';
import { resolve } from '../wiring/resolve';
import { bakedFlow } from './baked';
import { instrumented, requireJsonMapEnv } from './env';
import { eventBridgePublisher } from './on-demand';
import { lambdaStepContext } from './step-context';

// Variables that did not fit Lambda's 4 KB environment come from an SSM parameter, before anything reads them.
await loadEnvironmentParameter();

const flow = bakedFlow();
const { ctx, logger, metrics, payloads } = lambdaStepContext(flow, 'resolve');
// Set for flows with the manual strategy: each newly opened conflict is announced on this bus.
const eventBusName = process.env.EVENT_BUS_NAME;
const events = eventBusName ? await eventBridgePublisher(eventBusName) : undefined;
// Set for flows with a source whose truncates delete: a truncate's deletes are sent back to this step's queue.
const resolveQueueUrl = process.env.RESOLVE_QUEUE_URL;

export const handler = instrumented(
  withClaimChecks(
    resolve(ctx, { deliverQueueUrls: requireJsonMapEnv('DELIVER_QUEUE_URLS'), ...(events ? { events } : {}), ...(resolveQueueUrl ? { resolveQueueUrl } : {}) }),
    payloads,
    ctx.logger,
  ),
  { logger, metrics },
);

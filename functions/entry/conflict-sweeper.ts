import { conflictSweep } from '../wiring/resolve';
import { bakedFlow } from './baked';
import { instrumented } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const { ctx, logger, metrics } = lambdaStepContext(flow, 'review');
const sweep = conflictSweep(ctx);

/** Invoked by the flow's EventBridge Scheduler schedule; the event carries nothing the sweep needs. */
export const handler = instrumented(async (_event: unknown, context) => sweep({ remainingMs: () => context.getRemainingTimeInMillis() }), { logger, metrics });

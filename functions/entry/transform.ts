import { withClaimChecks } from '../handlers/claim-checks';
import { transform } from '../wiring/steps';
import { bakedFlow } from './baked';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const hashKeySecretArn = requireEnv('HASH_KEY_SECRET_ARN');
const { ctx, logger, metrics, payloads } = lambdaStepContext(flow, 'transform');

export const handler = instrumented(withClaimChecks(transform(ctx, () => ctx.secrets.get(hashKeySecretArn)), payloads, ctx.logger), { logger, metrics });

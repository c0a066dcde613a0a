import { withClaimChecks } from '../handlers/claim-checks';
import { transform } from '../wiring/transform';
import { bakedFlow } from './baked';
import { bakedCompileTransform } from './baked-transform';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const hashKeySecretArn = requireEnv('HASH_KEY_SECRET_ARN');
const { ctx, logger, metrics, payloads } = lambdaStepContext(flow, 'transform', { readsSecrets: true });

export const handler = instrumented(
  withClaimChecks(
    transform(ctx, () => ctx.secrets.get(hashKeySecretArn), bakedCompileTransform(flow)),
    payloads,
    ctx.logger,
  ),
  { logger, metrics },
);

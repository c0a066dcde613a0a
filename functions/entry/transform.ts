import { precompiledValidator } from '../core/transform/precompiled-schema';
import { buildTransform } from '../core/transform/transform-core';
import { withClaimChecks } from '../handlers/claim-checks';
import { transform } from '../wiring/transform';
import { bakedFlow, bakedSchemaCode } from './baked';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const hashKeySecretArn = requireEnv('HASH_KEY_SECRET_ARN');
const { ctx, logger, metrics, payloads } = lambdaStepContext(flow, 'transform', { readsSecrets: true });
// The transform was checked at synth, and its JSON Schema compiled there: the function bundles no schema compiler.
const schemaCode = bakedSchemaCode(flow);
const validate = schemaCode === undefined ? undefined : precompiledValidator(schemaCode);

export const handler = instrumented(
  withClaimChecks(
    transform(ctx, () => ctx.secrets.get(hashKeySecretArn), (f, c) => buildTransform(f, c, validate)),
    payloads,
    ctx.logger,
  ),
  { logger, metrics },
);

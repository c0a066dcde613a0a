import { HttpTargetWriter } from '../adapters/http-target-writer';
import { httpTargetAuth } from '../config/http-target-auth';
import { TokenBucket } from '../adapters/rate-limiter';
import { stateStore } from '../wiring/step-context';
import { deliverTarget, deliverTargetLambda } from './deliver-common';

const step = deliverTarget('http', (t) => httpTargetAuth(t) !== undefined);
const { target, ctx } = step;
// The stack sets RATE_LIMIT_PER_INVOCATION to rateLimitPerSecond / the mapping's maximum concurrency.
const perInvocation = Number(process.env.RATE_LIMIT_PER_INVOCATION ?? '');

export const handler = deliverTargetLambda(
  step,
  target.id,
  new HttpTargetWriter({
    flowId: step.flow.id,
    target,
    secrets: ctx.secrets,
    ...(perInvocation > 0 ? { limiter: new TokenBucket(perInvocation) } : {}),
    // OAuth2 token requests of the writer (never the secret or the token).
    log: (message, attributes) => ctx.logger.info(message, attributes),
    // Remote ids of created records live in the target's delivered marker, in the state table.
    ...(target.create ? { remoteIds: stateStore(ctx) } : {}),
  }),
);

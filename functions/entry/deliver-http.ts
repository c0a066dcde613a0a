import { documentClient, secretsManagerClient } from '../adapters/clients';
import { DynamoDbStateStore, flowTargets } from '../adapters/dynamodb-state-store';
import { HttpTargetWriter } from '../adapters/http-target-writer';
import { TokenBucket } from '../adapters/rate-limiter';
import { SecretsManagerSecrets } from '../adapters/secrets-manager-secrets';
import { deliverTarget, deliverTargetLambda } from './deliver-common';
import { observability, requireEnv } from './env';

const { flow, target } = deliverTarget('http');
// The stack sets RATE_LIMIT_PER_INVOCATION to rateLimitPerSecond / reserved concurrency.
const perInvocation = Number(process.env.RATE_LIMIT_PER_INVOCATION ?? '');
// OAuth2 token requests of the writer (never the secret or the token).
const { logger: tokenLog } = observability(flow, 'deliver');

export const handler = deliverTargetLambda(
  flow,
  target.id,
  new HttpTargetWriter({
    flowId: flow.id,
    target,
    secrets: new SecretsManagerSecrets({ client: secretsManagerClient }),
    ...(perInvocation > 0 ? { limiter: new TokenBucket(perInvocation) } : {}),
    log: (message, attributes) => tokenLog.info(message, attributes),
    // Remote ids of created records live in the target's delivered marker, in the state table.
    ...(target.create ? { remoteIds: new DynamoDbStateStore({ client: documentClient, tableName: requireEnv('STATE_TABLE'), targets: flowTargets([flow]) }) } : {}),
  }),
);

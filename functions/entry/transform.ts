import { documentClient, secretsManagerClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbQuarantineStore } from '../adapters/dynamodb-quarantine-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SecretsManagerSecrets } from '../adapters/secrets-manager-secrets';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { payloadStore } from './payloads';
import { compileTransform, type Transformer } from '../core/transform/pipeline';
import { createTransformHandler } from '../handlers/transform-handler';
import { withClaimChecks } from '../handlers/sqs-batch';
import { bakedFlow } from './baked';
import { instrumented, observability, requireEnv } from './env';

const flow = bakedFlow();
const resolveQueueUrl = requireEnv('RESOLVE_QUEUE_URL');
const hashKeySecretArn = requireEnv('HASH_KEY_SECRET_ARN');
const auditTable = requireEnv('AUDIT_TABLE');
const quarantineTable = requireEnv('QUARANTINE_TABLE');
const { logger, metrics } = observability(flow, 'transform');
const payloads = payloadStore();
const secrets = new SecretsManagerSecrets({ client: secretsManagerClient });

// Compiled once per container, after the hash key is read; a failed read is retried by the next invocation.
let compiled: Promise<Transformer> | undefined;
const transformer = (): Promise<Transformer> =>
  (compiled ??= secrets.get(hashKeySecretArn).then(
    (hashKey) => compileTransform(flow, { hashKey }),
    (err: unknown) => {
      compiled = undefined;
      throw err;
    },
  ));

export const handler = instrumented(
  withClaimChecks(
    createTransformHandler({
      flow,
      transformer,
      publisher: new SqsPublisher({ client: sqsClient, payloads }),
      resolveQueueUrl,
      audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
      quarantine: new DynamoDbQuarantineStore({ client: documentClient, tableName: quarantineTable, retentionDays: flow.audit.retentionDays }),
      logger: powertoolsLogPort(logger),
      metrics: powertoolsMetricsPort(metrics),
    }),
    payloads,
    powertoolsLogPort(logger),
  ),
  { logger, metrics },
);

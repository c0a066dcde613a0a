import { documentClient, secretsManagerClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbDedupStore } from '../adapters/dynamodb-dedup-store';
import { DynamoDbQuarantineStore } from '../adapters/dynamodb-quarantine-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SecretsManagerSecrets } from '../adapters/secrets-manager-secrets';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { payloadStore } from './payloads';
import { createWebhookCaptureHandler } from '../handlers/webhook-capture-handler';
import { bakedFlow } from './baked';
import { instrumented, observability, requireEnv } from './env';

const flow = bakedFlow();
const sourceId = requireEnv('SOURCE_ID');
const webhookSecretArn = requireEnv('WEBHOOK_SECRET_ARN');
const transformQueueUrl = requireEnv('TRANSFORM_QUEUE_URL');
const auditTable = requireEnv('AUDIT_TABLE');
const quarantineTable = requireEnv('QUARANTINE_TABLE');
const dedupTable = requireEnv('DEDUP_TABLE');
const { logger, metrics } = observability(flow, 'capture');
const payloads = payloadStore();

export const handler = instrumented(
  createWebhookCaptureHandler({
    flow,
    sourceId,
    secrets: new SecretsManagerSecrets({ client: secretsManagerClient }),
    webhookSecrets: { [sourceId]: webhookSecretArn },
    transformQueueUrl,
    publisher: new SqsPublisher({ client: sqsClient, payloads }),
    dedup: new DynamoDbDedupStore({ client: documentClient, tableName: dedupTable }),
    audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
    quarantine: new DynamoDbQuarantineStore({ client: documentClient, tableName: quarantineTable, retentionDays: flow.audit.retentionDays }),
    logger: powertoolsLogPort(logger),
    metrics: powertoolsMetricsPort(metrics),
  }),
  { logger, metrics },
);

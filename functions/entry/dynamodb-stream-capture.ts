import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { documentClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbQuarantineStore } from '../adapters/dynamodb-quarantine-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { payloadStore } from './payloads';
import { createDynamoDbStreamCaptureHandler } from '../handlers/dynamodb-stream-capture-handler';
import { bakedFlow } from './baked';
import { observability, requireEnv } from './env';

const flow = bakedFlow();
const sourceId = requireEnv('SOURCE_ID');
const transformQueueUrl = requireEnv('TRANSFORM_QUEUE_URL');
const auditTable = requireEnv('AUDIT_TABLE');
const quarantineTable = requireEnv('QUARANTINE_TABLE');
const { logger, metrics } = observability(flow, 'capture');
const payloads = payloadStore();

export const handler = middy(
  createDynamoDbStreamCaptureHandler({
    flow,
    sourceId,
    transformQueueUrl,
    publisher: new SqsPublisher({ client: sqsClient, payloads }),
    audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays }),
    quarantine: new DynamoDbQuarantineStore({ client: documentClient, tableName: quarantineTable, retentionDays: flow.audit.retentionDays }),
    logger: powertoolsLogPort(logger),
    metrics: powertoolsMetricsPort(metrics),
  }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));

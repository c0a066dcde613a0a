import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { documentClient, secretsManagerClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbPullStateStore } from '../adapters/dynamodb-pull-state-store';
import { DynamoDbQuarantineStore } from '../adapters/dynamodb-quarantine-store';
import { lambdaContinuation } from '../adapters/lambda-continuation';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { createPullReader } from '../adapters/pull-readers';
import { SecretsManagerSecrets } from '../adapters/secrets-manager-secrets';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { payloadStore } from './payloads';
import type { ScheduleSource } from '../core/pull/records';
import { createScheduleCaptureHandler } from '../handlers/schedule-capture-handler';
import { bakedFlow } from './baked';
import { observability, requireEnv } from './env';

const flow = bakedFlow();
const sourceId = requireEnv('SOURCE_ID');
const stateTable = requireEnv('STATE_TABLE');
const auditTable = requireEnv('AUDIT_TABLE');
const quarantineTable = requireEnv('QUARANTINE_TABLE');
const transformQueueUrl = requireEnv('TRANSFORM_QUEUE_URL');
// Set by the Lambda runtime: the pull continues itself asynchronously.
const functionName = requireEnv('AWS_LAMBDA_FUNCTION_NAME');
const source = flow.sources.find((s): s is ScheduleSource => s.id === sourceId && s.type === 'schedule');
if (!source) throw new Error(`SOURCE_ID "${sourceId}" is not a schedule source of flow "${flow.id}"`);
const { logger, metrics } = observability(flow, 'capture');
const payloads = payloadStore();

/** Module-scope clients of this function only. */
const s3Client = source.s3 ? new S3Client({}) : undefined;
const lambdaClient = new LambdaClient({});

export const handler = middy(
  createScheduleCaptureHandler({
    flow,
    sourceId,
    reader: createPullReader(source, { secrets: new SecretsManagerSecrets({ client: secretsManagerClient }), s3Client, log: (m, a) => logger.info(m, a) }),
    pullState: new DynamoDbPullStateStore({ client: documentClient, tableName: stateTable }),
    publisher: new SqsPublisher({ client: sqsClient, payloads }),
    transformQueueUrl,
    audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
    quarantine: new DynamoDbQuarantineStore({ client: documentClient, tableName: quarantineTable, retentionDays: flow.audit.retentionDays }),
    logger: powertoolsLogPort(logger),
    metrics: powertoolsMetricsPort(metrics),
    continueSoon: lambdaContinuation(lambdaClient, functionName),
  }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));

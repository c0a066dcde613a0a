import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { FlowConfig } from '../config/schema';
import { documentClient, secretsManagerClient, sqsClient } from '../adapters/clients';
import type { S3PayloadStore } from '../adapters/s3-payload-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SecretsManagerSecrets } from '../adapters/secrets-manager-secrets';
import { SqsPublisher } from '../adapters/sqs-publisher';
import type { StepName } from '../core/envelope';
import { TABLE_ENV } from '../wiring/contract';
import type { StepContext } from '../wiring/step-context';
import { observability, requireEnv, requireJsonMapEnv } from './env';
import { payloadStore } from './payloads';

/** A queue's URL from the variable SyncFlow sets for it. */
function queueUrlFromEnv(queueId: string): string {
  if (queueId === 'transform') return requireEnv('TRANSFORM_QUEUE_URL');
  if (queueId === 'resolve') return requireEnv('RESOLVE_QUEUE_URL');
  const targetId = queueId.replace(/^deliver-/, '');
  const url = requireJsonMapEnv('DELIVER_QUEUE_URLS')[targetId];
  if (!url) throw new Error(`environment variable DELIVER_QUEUE_URLS has no queue for target "${targetId}"`);
  return url;
}

/** A Lambda step's context: names from its environment, the module-scope AWS clients, Powertools telemetry. */
export function lambdaStepContext(flow: FlowConfig, step: StepName | 'review'): { ctx: StepContext; logger: Logger; metrics: Metrics; payloads: S3PayloadStore } {
  const { logger, metrics } = observability(flow, step);
  const payloads = payloadStore();
  const ctx: StepContext = {
    flow,
    tableName: (table) => requireEnv(TABLE_ENV[table]),
    queueUrl: queueUrlFromEnv,
    doc: documentClient,
    publisher: new SqsPublisher({ client: sqsClient, payloads }),
    secrets: new SecretsManagerSecrets({ client: secretsManagerClient }),
    logger: powertoolsLogPort(logger),
    metrics: powertoolsMetricsPort(metrics),
  };
  return { ctx, logger, metrics, payloads };
}

import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { FlowConfig } from '../config/schema';
import { documentClient, sqsClient } from '../adapters/clients';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import type { StepName } from '../core/envelope';
import type { PayloadStore } from '../ports';
import { TABLE_ENV } from '../wiring/contract';
import type { StepContext } from '../wiring/step-context';
import { observability, requireEnv, requireJsonMapEnv } from './env';
import { onDemandSecrets } from './on-demand';
import { payloadStore } from './payloads';
import { packsTo } from '../plan/packed-queues';

/** A queue's URL from the variable SyncFlow sets for it. */
function queueUrlFromEnv(queueId: string): string {
  if (queueId === 'transform') return requireEnv('TRANSFORM_QUEUE_URL');
  if (queueId === 'resolve') return requireEnv('RESOLVE_QUEUE_URL');
  const targetId = queueId.replace(/^deliver-/, '');
  const url = requireJsonMapEnv('DELIVER_QUEUE_URLS')[targetId];
  if (!url) throw new Error(`environment variable DELIVER_QUEUE_URLS has no queue for target "${targetId}"`);
  return url;
}

/** A queue's URL when this function has its variable (a function knows only the queues it sends to). */
function knownQueueUrl(queueId: string): string | undefined {
  try {
    return queueUrlFromEnv(queueId);
  } catch {
    return undefined;
  }
}

/**
 * A Lambda step's context: names from its environment, the module-scope AWS clients, Powertools telemetry.
 * `readsSecrets`: the step reads a secret at its first invocation, so Secrets Manager is loaded during the cold start.
 */
export function lambdaStepContext(
  flow: FlowConfig,
  step: StepName | 'review',
  options: { readsSecrets?: boolean } = {},
): { ctx: StepContext; logger: Logger; metrics: Metrics; payloads: PayloadStore } {
  const { logger, metrics } = observability(flow, step);
  const payloads = payloadStore();
  const ctx: StepContext = {
    flow,
    tableName: (table) => requireEnv(TABLE_ENV[table]),
    queueUrl: queueUrlFromEnv,
    doc: documentClient,
    publisher: new SqsPublisher({ client: sqsClient, payloads, packs: packsTo([flow], (_, id) => knownQueueUrl(id)) }),
    secrets: onDemandSecrets({ preload: options.readsSecrets }),
    logger: powertoolsLogPort(logger),
    metrics: powertoolsMetricsPort(metrics),
  };
  return { ctx, logger, metrics, payloads };
}

import type { Context } from 'aws-lambda';
import { documentClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbQuarantineStore } from '../adapters/dynamodb-quarantine-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import type { LogPort, MetricsPort } from '../ports';
import { bakedFlow } from './baked';
import { instrumented, observability, requireEnv } from './env';
import { payloadStore } from './payloads';
import type { CaptureUseCaseDeps } from '../handlers/capture-deps';

/** What every event-driven capture handler needs, with the Lambda's logger and metrics. */
export type CaptureDeps = CaptureUseCaseDeps & { readonly logger: LogPort; readonly metrics: MetricsPort };

/** The Lambda handler of a capture function fed by an event source (stream, SQS, EventBridge via SQS). */
export function captureLambda<E, R>(create: (deps: CaptureDeps) => (event: E, context: Context) => Promise<R>) {
  const flow = bakedFlow();
  const { logger, metrics } = observability(flow, 'capture');
  const tables = { audit: requireEnv('AUDIT_TABLE'), quarantine: requireEnv('QUARANTINE_TABLE') };
  return instrumented(
    create({
      flow,
      sourceId: requireEnv('SOURCE_ID'),
      transformQueueUrl: requireEnv('TRANSFORM_QUEUE_URL'),
      publisher: new SqsPublisher({ client: sqsClient, payloads: payloadStore() }),
      audit: new DynamoDbAuditLog({ client: documentClient, tableName: tables.audit, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
      quarantine: new DynamoDbQuarantineStore({ client: documentClient, tableName: tables.quarantine, retentionDays: flow.audit.retentionDays }),
      logger: powertoolsLogPort(logger),
      metrics: powertoolsMetricsPort(metrics),
    }),
    { logger, metrics },
  );
}

import { documentClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../adapters/dynamodb-conflict-store';
import { DynamoDbStateStore, flowTargets } from '../adapters/dynamodb-state-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { createConflictSweeper } from '../handlers/conflict-sweeper';
import { bakedFlow } from './baked';
import { instrumented, observability, requireEnv } from './env';
import { payloadStore } from './payloads';

const flow = bakedFlow();
const conflictTable = requireEnv('CONFLICT_TABLE');
const stateTable = requireEnv('STATE_TABLE');
const auditTable = requireEnv('AUDIT_TABLE');
const resolveQueueUrl = requireEnv('RESOLVE_QUEUE_URL');
const { logger, metrics } = observability(flow, 'review');

const sweep = createConflictSweeper({
  flow,
  resolveQueueUrl,
  conflicts: new DynamoDbConflictStore({ client: documentClient, tableName: conflictTable, retentionDays: flow.audit.retentionDays }),
  state: new DynamoDbStateStore({ client: documentClient, tableName: stateTable, targets: flowTargets([flow]) }),
  // A resolution carrying a large value travels through the claim check, as every message to the resolve queue may.
  publisher: new SqsPublisher({ client: sqsClient, payloads: payloadStore() }),
  audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
  logger: powertoolsLogPort(logger),
  metrics: powertoolsMetricsPort(metrics),
});

/** Invoked by the flow's EventBridge Scheduler schedule; the event carries nothing the sweep needs. */
export const handler = instrumented(async (_event: unknown, context) => sweep({ remainingMs: () => context.getRemainingTimeInMillis() }), { logger, metrics });

import { documentClient, documentClientForTable } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbStateStore, flowTargets } from '../adapters/dynamodb-state-store';
import { DynamoDbTargetWriter } from '../adapters/dynamodb-target-writer';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { createDeliverDynamoDbHandler } from '../handlers/deliver-dynamodb-handler';
import { withClaimChecks } from '../handlers/sqs-batch';
import { bakedFlow } from './baked';
import { payloadStore } from './payloads';
import { instrumented, observability, requireEnv } from './env';

const flow = bakedFlow();
const stateTable = requireEnv('STATE_TABLE');
const auditTable = requireEnv('AUDIT_TABLE');
const targetId = requireEnv('TARGET_ID');
const targetTable = requireEnv('TARGET_TABLE');
const target = flow.targets.find((t) => t.id === targetId);
if (!target || target.type !== 'dynamodb') throw new Error(`TARGET_ID "${targetId}" is not a dynamodb target of flow "${flow.id}"`);
const { logger, metrics } = observability(flow, 'deliver');
const payloads = payloadStore();

export const handler = instrumented(
  withClaimChecks(
    createDeliverDynamoDbHandler({
      flow,
      targetId,
      stateStore: new DynamoDbStateStore({ client: documentClient, tableName: stateTable, targets: flowTargets([flow]) }),
      // A table given by ARN (another account or region) is addressed by that ARN, with a client in its region.
      writer: new DynamoDbTargetWriter({ client: documentClient, targetClient: documentClientForTable(targetTable), stateTable, tableName: targetTable, keyAttribute: target.keyAttribute }),
      audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
      logger: powertoolsLogPort(logger),
      metrics: powertoolsMetricsPort(metrics),
    }),
    payloads,
    powertoolsLogPort(logger),
  ),
  { logger, metrics },
);

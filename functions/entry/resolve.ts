import { loadEnvironmentParameter } from '../adapters/ssm-environment';
import { documentClient, sqsClient, regionOfArn } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../adapters/dynamodb-conflict-store';
import { DynamoDbStateStore, flowTargets } from '../adapters/dynamodb-state-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeEventPublisher } from '../adapters/eventbridge-event-publisher';
import { sdkEventPutter } from '../adapters/eventbridge-target-writer';
import { payloadStore } from './payloads';
import { createResolveHandler } from '../handlers/resolve-handler';
import { withClaimChecks } from '../handlers/sqs-batch';
import { bakedFlow } from './baked';
import { instrumented, observability, requireEnv, requireJsonMapEnv } from './env';

// Variables that did not fit Lambda's 4 KB environment come from an SSM parameter, before anything reads them.
await loadEnvironmentParameter();

const flow = bakedFlow();
const stateTable = requireEnv('STATE_TABLE');
const auditTable = requireEnv('AUDIT_TABLE');
const conflictTable = requireEnv('CONFLICT_TABLE');
const deliverQueueUrls = requireJsonMapEnv('DELIVER_QUEUE_URLS');
const { logger, metrics } = observability(flow, 'resolve');
const payloads = payloadStore();
// Set for flows with the manual strategy: each newly opened conflict is announced on this bus.
const eventBusName = process.env.EVENT_BUS_NAME;
// Set for flows with a source whose truncates delete: a truncate's deletes are sent back to this step's queue.
const resolveQueueUrl = process.env.RESOLVE_QUEUE_URL;
const stateStore = new DynamoDbStateStore({ client: documentClient, tableName: stateTable, targets: flowTargets([flow]) });
const events = eventBusName ? new EventBridgeEventPublisher({ putter: sdkEventPutter(new EventBridgeClient(regionOfArn(eventBusName) ? { region: regionOfArn(eventBusName) } : {})), busName: eventBusName }) : undefined;

export const handler = instrumented(
  withClaimChecks(
    createResolveHandler({
      flow,
      stateStore,
      ...(resolveQueueUrl ? { truncates: { index: stateStore, resolveQueueUrl } } : {}),
      audit: new DynamoDbAuditLog({ client: documentClient, tableName: auditTable, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
      conflicts: new DynamoDbConflictStore({ client: documentClient, tableName: conflictTable, retentionDays: flow.audit.retentionDays }),
      publisher: new SqsPublisher({ client: sqsClient, payloads }),
      ...(events ? { events } : {}),
      deliverQueueUrls,
      logger: powertoolsLogPort(logger),
      metrics: powertoolsMetricsPort(metrics),
    }),
    payloads,
    powertoolsLogPort(logger),
  ),
  { logger, metrics },
);

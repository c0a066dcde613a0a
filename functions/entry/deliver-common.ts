import { documentClient, sqsClient } from '../adapters/clients';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbStateStore, flowTargets } from '../adapters/dynamodb-state-store';
import { powertoolsLogPort, powertoolsMetricsPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { payloadStore } from './payloads';
import type { FlowConfig } from '../../lib/config/schema';
import { createDeliverTargetHandler } from '../handlers/deliver-target-handler';
import type { BatchTargetWriter } from '../ports';
import { withClaimChecks } from '../handlers/sqs-batch';
import { bakedFlow } from './baked';
import { instrumented, observability, requireEnv } from './env';

type TargetOf<T extends FlowConfig['targets'][number]['type']> = Extract<FlowConfig['targets'][number], { type: T }>;

/** The baked flow and this function's target, checked to be of `type`. */
export function deliverTarget<T extends FlowConfig['targets'][number]['type']>(type: T): { flow: FlowConfig; target: TargetOf<T> } {
  const flow = bakedFlow();
  const targetId = requireEnv('TARGET_ID');
  const target = flow.targets.find((t) => t.id === targetId);
  if (!target || target.type !== type) throw new Error(`TARGET_ID "${targetId}" is not a ${type} target of flow "${flow.id}"`);
  return { flow, target: target as TargetOf<T> };
}

/** The Lambda handler of a batch target: state, audit, the writer, and rejected records parked in DLQ_URL. */
export function deliverTargetLambda(flow: FlowConfig, targetId: string, writer: BatchTargetWriter) {
  const { logger, metrics } = observability(flow, 'deliver');
  const payloads = payloadStore();
  return instrumented(
    withClaimChecks(
      createDeliverTargetHandler({
        flow,
        targetId,
        stateStore: new DynamoDbStateStore({ client: documentClient, tableName: requireEnv('STATE_TABLE'), targets: flowTargets([flow]) }),
        audit: new DynamoDbAuditLog({ client: documentClient, tableName: requireEnv('AUDIT_TABLE'), retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
        writer,
        park: { publisher: new SqsPublisher({ client: sqsClient, payloads }), dlqUrl: requireEnv('DLQ_URL') },
        logger: powertoolsLogPort(logger),
        metrics: powertoolsMetricsPort(metrics),
      }),
      payloads,
      powertoolsLogPort(logger),
    ),
    { logger, metrics },
  );
}

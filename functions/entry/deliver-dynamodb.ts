import { documentClient, documentClientForTable } from '../adapters/clients';
import { DynamoDbTargetWriter } from '../adapters/dynamodb-target-writer';
import { withClaimChecks } from '../handlers/claim-checks';
import { deliverDynamoDb } from '../wiring/deliver';
import { bakedFlow } from './baked';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const targetId = requireEnv('TARGET_ID');
const targetTable = requireEnv('TARGET_TABLE');
const target = flow.targets.find((t) => t.id === targetId);
if (!target || target.type !== 'dynamodb') throw new Error(`TARGET_ID "${targetId}" is not a dynamodb target of flow "${flow.id}"`);
const { ctx, logger, metrics, payloads } = lambdaStepContext(flow, 'deliver');
// A table given by ARN (another account or region) is addressed by that ARN, with a client in its region.
const writer = new DynamoDbTargetWriter({
  client: documentClient,
  targetClient: documentClientForTable(targetTable),
  stateTable: ctx.tableName('state'),
  tableName: targetTable,
  keyAttribute: target.keyAttribute,
});

export const handler = instrumented(withClaimChecks(deliverDynamoDb(ctx, targetId, writer, requireEnv('DLQ_URL')), payloads, ctx.logger), { logger, metrics });

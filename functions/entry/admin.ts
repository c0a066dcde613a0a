import { loadEnvironmentParameter } from '../adapters/ssm-environment';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { documentClient, documentClientForTable, sqsClient } from '../adapters/clients';
import { DynamoDbTargetItems } from '../adapters/dynamodb-target-writer';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../adapters/dynamodb-conflict-store';
import { DynamoDbQuarantineStore } from '../adapters/dynamodb-quarantine-store';
import { DynamoDbStateStore, flowStateOptions } from '../adapters/dynamodb-state-store';
import { powertoolsLogPort } from '../adapters/powertools-telemetry';
import { SqsPublisher } from '../adapters/sqs-publisher';
import { SqsQueueDepths } from '../adapters/sqs-queue-depths';
import { planFlow } from '../plan/plan';
import { TABLE_ENV } from '../wiring/contract';
import { createAdminHttpHandler, type AdminHttpEvent } from '../handlers/admin-http-handler';
import { createAdminService } from '../handlers/admin-service';
import { bakedFlow } from './baked';
import { bakedCompileTransform } from './baked-transform';
import { deployedFlowResources, deployedQueueUrls, parseDeployedNames } from './deployed-resources';
import { observability, requireEnv } from './env';
import { onDemandSecrets } from './on-demand';
import { payloadStore } from './payloads';

// Variables that did not fit Lambda's 4 KB environment come from an SSM parameter, before anything reads them.
await loadEnvironmentParameter();

const flow = bakedFlow();
const plan = planFlow(flow);
const tables = {
  state: requireEnv(TABLE_ENV.state),
  audit: requireEnv(TABLE_ENV.audit),
  quarantine: requireEnv(TABLE_ENV.quarantine),
  conflicts: requireEnv(TABLE_ENV.conflicts),
  dedup: requireEnv(TABLE_ENV.dedup),
};
const names = parseDeployedNames(requireEnv('FLOW_RESOURCES'));
const sqsPrefixes = { url: requireEnv('SQS_URL_PREFIX'), arn: requireEnv('SQS_ARN_PREFIX') };
const queueUrls = deployedQueueUrls(plan, names, sqsPrefixes);
const apiEndpoint = requireEnv('API_ENDPOINT');
const hashKeySecretArn = requireEnv('HASH_KEY_SECRET_ARN');
// No metrics: the admin API counts nothing of the pipeline (its invocations and errors are Lambda's own metrics).
const { logger } = observability(flow, 'admin');
const log = powertoolsLogPort(logger);
const secrets = onDemandSecrets();
const depths = new SqsQueueDepths(sqsClient);
const stores = {
  stateStore: new DynamoDbStateStore({ client: documentClient, tableName: tables.state, ...flowStateOptions([flow]) }),
  audit: new DynamoDbAuditLog({ client: documentClient, tableName: tables.audit, retentionDays: flow.audit.retentionDays, decisions: powertoolsLogPort(logger) }),
  conflicts: new DynamoDbConflictStore({ client: documentClient, tableName: tables.conflicts, retentionDays: flow.audit.retentionDays }),
  quarantine: new DynamoDbQuarantineStore({ client: documentClient, tableName: tables.quarantine, retentionDays: flow.audit.retentionDays }),
  publisher: new SqsPublisher({ client: sqsClient, payloads: payloadStore() }),
  targetItems: new DynamoDbTargetItems(
    {
      [flow.id]: Object.fromEntries(
        plan.targetTables.flatMap((t) => {
          const tableName = names.targetTables[t.targetId];
          return tableName ? [[t.targetId, { tableName, keyAttribute: t.keyAttribute, client: documentClientForTable(tableName) }]] : [];
        }),
      ),
    },
    log,
  ),
};

// Built at the first request (each queue's DLQ is read from its RedrivePolicy), then reused; a failed build is retried.
let built: Promise<ReturnType<typeof createAdminHttpHandler>> | undefined;
const adminHandler = () =>
  (built ??= Promise.all(Object.entries(queueUrls).map(async ([id, url]) => [id, await depths.deadLetterArn(url)] as const)).then(
    (dlqArns) =>
      createAdminHttpHandler({
        admin: createAdminService({
          flows: [{ plan, resources: deployedFlowResources(plan, names, sqsPrefixes, tables, Object.fromEntries(dlqArns), requireEnv('PAYLOAD_BUCKET')) }],
          baseUrl: () => apiEndpoint,
          ...stores,
          depths,
          compileTransform: bakedCompileTransform(flow),
          // Read only when a reviewer's value must be masked.
          hashKey: () => secrets.get(hashKeySecretArn),
          authenticatedCaller: true,
          logger: log,
        }),
        logger: log,
      }),
    (err: unknown) => {
      built = undefined;
      throw err;
    },
  ));

export const handler = middy(async (event: AdminHttpEvent) => (await adminHandler())(event)).use(injectLambdaContext(logger, { resetKeys: true }));

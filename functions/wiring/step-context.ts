import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { FlowConfig } from '../config/schema';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../adapters/dynamodb-conflict-store';
import { DynamoDbDedupStore } from '../adapters/dynamodb-dedup-store';
import { DynamoDbPullStateStore } from '../adapters/dynamodb-pull-state-store';
import { DynamoDbQuarantineSink } from '../adapters/dynamodb-quarantine-store';
import { DynamoDbStateStore, flowStateOptions } from '../adapters/dynamodb-state-store';
import type { StoreTableId } from '../plan/store-tables';
import type { LogPort, MetricsPort, Publisher, Secrets } from '../ports';

/**
 * What a step's handler is built from, in Lambda (names from the environment, AWS clients, Powertools) and in the
 * local runtime (names of the local resources, clients of the local servers, a console logger) alike.
 */
export interface StepContext {
  readonly flow: FlowConfig;
  /** A store table's name; a Lambda reads it from its environment when asked, which is at module load. */
  readonly tableName: (table: StoreTableId) => string;
  /** A queue of the flow by plan id (`transform`, `resolve`, `deliver-<target>`). */
  readonly queueUrl: (queueId: string) => string;
  readonly doc: DynamoDBDocumentClient;
  readonly publisher: Publisher;
  readonly secrets: Secrets;
  readonly logger: LogPort;
  readonly metrics?: MetricsPort;
}

/*
 * The store tables as a step uses them, built the same way wherever the step runs. One function per store, so a
 * function's bundle holds only the stores its step uses.
 */

/**
 * Which targets' delivered markers a read of state includes: every target's (`all`), none (a step that never looks at
 * `delivered`), or only those kept in the state table (`state-table`: a DynamoDB target records an upsert on its item).
 */
export const stateStore = (ctx: StepContext, options: { markers?: 'all' | 'none' | 'state-table' } = {}) =>
  new DynamoDbStateStore({
    client: ctx.doc,
    tableName: ctx.tableName('state'),
    ...flowStateOptions([ctx.flow]),
    ...(options.markers === 'none' ? { targets: { [ctx.flow.id]: [] } } : {}),
    ...(options.markers === 'state-table' ? { targets: { [ctx.flow.id]: ctx.flow.targets.filter((t) => t.type !== 'dynamodb').map((t) => t.id) } } : {}),
  });

export const pullStateStore = (ctx: StepContext) => new DynamoDbPullStateStore({ client: ctx.doc, tableName: ctx.tableName('state') });

// Each audit entry is also a decision log line (names and outcomes, never values) for the saved queries.
export const auditLog = (ctx: StepContext) =>
  new DynamoDbAuditLog({ client: ctx.doc, tableName: ctx.tableName('audit'), retentionDays: ctx.flow.audit.retentionDays, decisions: ctx.logger });

export const quarantineStore = (ctx: StepContext) =>
  new DynamoDbQuarantineSink({ client: ctx.doc, tableName: ctx.tableName('quarantine'), retentionDays: ctx.flow.audit.retentionDays });

export const conflictStore = (ctx: StepContext) =>
  new DynamoDbConflictStore({ client: ctx.doc, tableName: ctx.tableName('conflicts'), retentionDays: ctx.flow.audit.retentionDays });

export const dedupStore = (ctx: StepContext) => new DynamoDbDedupStore({ client: ctx.doc, tableName: ctx.tableName('dedup') });

/** Telemetry of a step, as every handler factory takes it. */
export const telemetry = (ctx: StepContext) => ({ logger: ctx.logger, ...(ctx.metrics ? { metrics: ctx.metrics } : {}) });

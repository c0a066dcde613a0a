/** syncline: serverless data-sync flows for AWS, deployed with the AWS CDK. */
export { SynclineFunction, mergeFunctionProps, DEFAULT_BUNDLING, ESM_REQUIRE_BANNER, SYNCLINE_RUNTIME, type SynclineFunctionProps } from './constructs/function-defaults';
export { SyncStore, type SyncStoreProps, type SyncStoreTableProps, type ExistingStoreTables } from './constructs/sync-store';
export type { StoreTableId } from '../functions/plan/store-tables';
export { SyncFlow, DEFAULT_PROJECT_ROOT, METRICS_NAMESPACE, type SyncFlowProps } from './constructs/sync-flow';
export { Observability, FlowAlarms, DEFAULT_ALARM_THRESHOLDS, OPEN_CONFLICTS_METRIC, flowMetric, type ObservabilityProps, type FlowAlarmsProps } from './constructs/observability';
export { SyncStack, type SyncStackProps } from './stacks/sync-stack';
export { applyNagAcknowledgements, NAG_ACKNOWLEDGEMENTS } from './stacks/nag';
export { loadConfig, parseConfig, readConfigFile, ConfigError, formatIssue, type ConfigIssue } from './config/load';
export * from '../functions/config/schema';
export {
  plan,
  planFlow,
  conflictEventBus,
  conflictSweepEvery,
  unsupportedTypes,
  UnsupportedError,
  ENTRY_FILES,
  ADMIN_ENTRY_FILES,
  STORE_TABLES,
  MAX_RECEIVE_COUNT,
  SUPPORTED_SOURCES,
  SUPPORTED_TARGETS,
  type Plan,
  type FlowPlan,
  type FunctionPlan,
  type QueuePlan,
  type TablePlan,
  type TargetTablePlan,
  type TriggerPlan,
  type WebhookSecretPlan,
  type HandlerKind,
  type StepName,
} from '../functions/plan/plan';

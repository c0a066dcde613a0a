import type { QueryString } from 'aws-cdk-lib/aws-logs';
import { chunk } from '../../functions/core/chunk';

/** Logs Insights runs a query over at most 50 log groups. */
export const MAX_LOG_GROUPS_PER_QUERY = 50;

/** Log groups in parts a query can take. */
export function logGroupParts<T>(groups: readonly T[], size = MAX_LOG_GROUPS_PER_QUERY): T[][] {
  return chunk(groups, size);
}

export type SavedQueryId = 'historyOfKey' | 'quarantineReasons' | 'errorsByStep' | 'slowestDeliveries';
export const SAVED_QUERY_IDS: readonly SavedQueryId[] = ['historyOfKey', 'quarantineReasons', 'errorsByStep', 'slowestDeliveries'];

/**
 * The saved queries. They read the fields the functions log: Powertools' own (`level`, `message`, `function_name`,
 * `correlation_id`), each function's `flow` and `step`, the `decision` line of every audit entry (`key`, `outcome`,
 * `reason`, `eventId`, `source`, `target`, `version`; functions/adapters/dynamodb-audit-log.ts), `error` on warnings
 * and errors, and `lagMs` on each delivery batch. test/unit/constructs/saved-query-fields.test.ts holds them to that.
 */
export const SAVED_QUERIES: Readonly<Record<SavedQueryId, { name: string; query: ConstructorParameters<typeof QueryString>[0] }>> = {
  historyOfKey: {
    name: 'history of key (replace KEY)',
    query: {
      fields: ['@timestamp', 'flow', 'step', 'function_name', 'level', 'message', 'outcome', 'reason', 'eventId', 'correlation_id'],
      filterStatements: ['key = "KEY"'],
      sort: '@timestamp asc',
      limit: 1000,
    },
  },
  quarantineReasons: {
    name: 'quarantine reasons (last hour)',
    query: {
      fields: ['reason'],
      filterStatements: ['outcome = "quarantined"'],
      statsStatements: ['count(*) as records by flow, reason'],
      sort: 'records desc',
      limit: 100,
    },
  },
  errorsByStep: {
    name: 'errors by flow and step',
    query: {
      fields: ['coalesce(step, function_name, @log) as stepName', 'coalesce(error, message) as problem'],
      filterStatements: ['level = "ERROR" or level = "WARN"'],
      statsStatements: ['count(*) as entries, latest(problem) as lastProblem by flow, stepName, level'],
      sort: 'entries desc',
      limit: 100,
    },
  },
  slowestDeliveries: {
    name: 'slowest deliveries',
    query: {
      fields: ['@timestamp', 'flow', 'target', 'key', 'version', 'lagMs'],
      filterStatements: ['ispresent(lagMs)'],
      sort: 'lagMs desc',
      limit: 50,
    },
  },
};

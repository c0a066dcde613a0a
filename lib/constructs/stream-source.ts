import { Annotations, Duration } from 'aws-cdk-lib';
import { Table, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { pushdownFilter } from '../../functions/core/capture/stream-filter-pushdown';
import type { DynamoDbStreamTriggerPlan } from '../../functions/plan/plan';
import { grantOnTable } from './flow-grants';
import type { SynclineFunction } from './function-defaults';
import { StreamArnLookup } from './stream-arn-lookup';
import { deployEnv } from './deploy-env';
import { SynthProblem } from '../stacks/synth-problem';

/** A DynamoDB stream ARN: arn:<partition>:dynamodb:<region>:<account>:table/<name>/stream/<label>; group 1 the table ARN, 2 its name. */
export const STREAM_ARN = /^(arn:[^:]+:dynamodb:[^:]*:[^:]*:table\/([^/]+))\/stream\/.+$/;

export interface StreamTriggerOptions {
  readonly flowId: string;
  readonly sourceId: string;
  /** The capture function's plan id: names its on-failure queue. */
  readonly functionId: string;
  readonly trigger: DynamoDbStreamTriggerPlan;
  readonly projectRoot: string;
}

/** What {@link addStreamTrigger} created, for grants, alarms, cdk-nag and tests. */
export interface StreamTrigger {
  readonly table: ITable;
  /** Receives the metadata of batches the mapping gave up on. */
  readonly failureQueue: Queue;
  /** Reads the stream ARN at deploy time, for a source given by `tableName`. */
  readonly lookup?: StreamArnLookup;
}

/**
 * A stream event source mapping with secure defaults: TRIM_HORIZON, bisect on error, bounded retries and
 * record age, an SQS on-failure destination, partial batch responses, and the source filter pushed down
 * where it can be expressed exactly. `grantStreamRead` (by the event source) is scoped to this stream.
 */
export function addStreamTrigger(scope: Construct, fn: SynclineFunction, options: StreamTriggerOptions): StreamTrigger {
  const { flowId, sourceId, trigger } = options;
  let table: ITable;
  let lookup: StreamArnLookup | undefined;
  if (trigger.streamArn) {
    const m = STREAM_ARN.exec(trigger.streamArn);
    if (!m) throw new Error(`SyncFlow: flow "${flowId}" source "${sourceId}": streamArn must look like arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`);
    // An event source mapping reads a stream of its own region only: CloudFormation would fail midway through the deploy.
    const streamRegion = trigger.streamArn.split(':')[3];
    const { fixed, likely } = deployEnv(scope);
    if (streamRegion && fixed.region !== undefined && streamRegion !== fixed.region) {
      throw new SynthProblem(`flow "${flowId}" source "${sourceId}": streamArn is a stream of ${streamRegion}, but the stack deploys to ${fixed.region}; Lambda reads DynamoDB streams of its own region only`);
    }
    if (streamRegion && fixed.region === undefined && likely.region !== undefined && streamRegion !== likely.region) {
      Annotations.of(scope).addWarningV2(
        'syncline:stream-region',
        `flow "${flowId}" source "${sourceId}": streamArn is a stream of ${streamRegion}, but the CDK CLI targets ${likely.region}; Lambda reads DynamoDB streams of its own region only, so a deploy there fails midway: deploy to ${streamRegion}`,
      );
    }
    table = Table.fromTableAttributes(scope, `source-${sourceId}`, { tableArn: m[1], tableStreamArn: trigger.streamArn });
  } else {
    // A stream ARN carries a creation label that only the table knows, and CDK synthesizes offline: it is read
    // when the stack deploys.
    const tableName = trigger.tableName as string;
    lookup = new StreamArnLookup(scope, `source-${sourceId}-stream-arn`, { tableName, source: `${flowId}/${sourceId}`, projectRoot: options.projectRoot });
    table = Table.fromTableAttributes(scope, `source-${sourceId}`, { tableName, tableStreamArn: lookup.streamArn });
  }
  // Backfill chunks (direct invocations) scan this table and read its item count for progress, nothing wider. A
  // source given by stream ARN is read by the table ARN that the stream ARN starts with (a table of another account too).
  grantOnTable(table, fn, 'dynamodb:Scan', 'dynamodb:DescribeTable');
  fn.addEnvironment('SOURCE_TABLE', trigger.streamArn ? table.tableArn : table.tableName);
  const failureQueue = new Queue(scope, `${options.functionId}-dlq`, {
    retentionPeriod: Duration.days(14),
    enforceSSL: true,
    encryption: QueueEncryption.SQS_MANAGED,
  });
  const { filters } = pushdownFilter(trigger.filter as Record<string, unknown> | undefined);
  fn.addEventSource(
    new DynamoEventSource(table, {
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: trigger.batchSize,
      maxBatchingWindow: Duration.seconds(trigger.maxBatchingWindowSeconds),
      bisectBatchOnError: trigger.bisectBatchOnError,
      retryAttempts: trigger.retryAttempts,
      maxRecordAge: Duration.seconds(trigger.maxRecordAgeSeconds),
      onFailure: new SqsDlq(failureQueue),
      reportBatchItemFailures: true,
      ...(filters.length > 0 ? { filters: filters.map((p) => FilterCriteria.filter(p as Record<string, unknown>)) } : {}),
    }),
  );
  return { table, failureQueue, ...(lookup ? { lookup } : {}) };
}

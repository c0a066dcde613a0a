import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { DynamoDbConflictStore } from '../../functions/adapters/dynamodb-conflict-store';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import type { ChangeEnvelope } from '../../functions/core/envelope';
import { parseConfig } from '../../lib/config/load';
import { toSqsRecord } from '../../lib/local/sqs-poller';
import type { StoreTableId } from '../../functions/plan/store-tables';

/** A field-lww flow of two webhook sources, crm and erp, to one DynamoDB target. */
export const twoSourceFlow = (id: string) =>
  parseConfig({
    flows: [
      {
        id,
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook' },
          { id: 'erp', type: 'webhook' },
        ],
        conflict: { strategy: 'field-lww' },
        targets: [{ id: 'replica', type: 'dynamodb' }],
      },
    ],
  }).flows[0]!;

/** What a resolve handler needs besides its flow and state store, on the local servers' tables and queue. */
export const resolveStores = (doc: DynamoDBDocumentClient, sqs: SQSClient, tables: Record<StoreTableId, string>, deliverQueueUrl: string) => ({
  audit: new DynamoDbAuditLog({ client: doc, tableName: tables.audit }),
  conflicts: new DynamoDbConflictStore({ client: doc, tableName: tables.conflicts }),
  quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: tables.quarantine }),
  publisher: new SqsPublisher({ client: sqs }),
  deliverQueueUrls: { replica: deliverQueueUrl },
});

/** An upsert of `key` from `source`, as the transform sends it to resolve (`id` holds the key). */
export const upsertOf = (flowId: string, source: string, key: string, data: Record<string, unknown>, ts: number): ChangeEnvelope => ({
  v: 1,
  id: `${source}-${key}-${ts}`,
  flow: flowId,
  source,
  key,
  op: 'upsert',
  data: { id: key, ...data },
  ts,
  seq: String(ts),
  lineage: [{ step: 'capture', at: ts, outcome: 'captured' }],
});

/** The SQS event of a resolve queue carrying these changes, one message each. */
export const resolveEventOf = (envelopes: readonly ChangeEnvelope[]): SQSEvent => ({
  Records: envelopes.map((e, i) =>
    toSqsRecord({ MessageId: `${e.id}-${i}`, ReceiptHandle: `rh-${e.id}`, Body: JSON.stringify(e), MD5OfBody: '', Attributes: {} }, 'arn:aws:sqs:us-east-1:000000000000:resolve', 'us-east-1'),
  ),
});

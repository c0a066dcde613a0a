import 'aws-sdk-client-mock-vitest/extend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { deliveredPk, statePk } from '../../../functions/adapters/dynamodb-state-store';
import { flowSchema } from '../../../functions/config/schema';
import { eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { resolve } from '../../../functions/wiring/resolve';
import type { StepContext } from '../../../functions/wiring/step-context';
import { FakePublisher, RecordingLogger, sqsEvent } from '../../fixtures/fakes';

const ddb = mockClient(DynamoDBDocumentClient);
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

// A DynamoDB target records its deliveries on its own items; an HTTP target in the state table.
const flow = flowSchema.parse({
  id: 'orders',
  key: ['orderId'],
  sources: [{ id: 'shop', type: 'webhook' }],
  targets: [
    { id: 'replica', type: 'dynamodb', keyAttribute: 'orderId' },
    { id: 'crm', type: 'http', url: 'https://crm.example.com/orders/{key}' },
  ],
});

const ctx = (publisher: FakePublisher): StepContext => ({
  flow,
  tableName: (t) => `syncline-${t}`,
  queueUrl: (q) => `https://sqs.local/${q}`,
  doc,
  publisher,
  secrets: { get: async () => 'unused' },
  logger: new RecordingLogger(),
});

const change = (n: number, key: string): ChangeEnvelope => ({
  v: 1,
  id: eventId(flow.id, 'shop', 'w', n),
  flow: flow.id,
  source: 'shop',
  key,
  op: 'upsert',
  data: { orderId: key, status: 'new' },
  ts: 1000 + n,
  seq: `w#${n}`,
  lineage: [],
});

describe('resolve as wired for Lambda and the local runtime', () => {
  beforeEach(() => {
    ddb.reset();
    ddb.on(BatchGetCommand).resolves({ Responses: {} });
    ddb.on(UpdateCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
  });

  it('reads each key with the markers kept in the state table only, not those of DynamoDB targets', async () => {
    // Prepare
    const publisher = new FakePublisher();
    const handler = resolve(ctx(publisher), { deliverQueueUrls: { replica: 'https://sqs.local/deliver-replica', crm: 'https://sqs.local/deliver-crm' } });

    // Act
    const res = await handler(sqsEvent([change(0, 'o1'), change(1, 'o2')]));

    // Assess
    expect(res?.batchItemFailures).toEqual([]);
    const read = ddb.commandCalls(BatchGetCommand).flatMap((c) => c.args[0].input.RequestItems!['syncline-state']!.Keys!.map((k) => k.pk as string));
    expect(read.sort()).toEqual([deliveredPk('orders', 'crm', 'o1'), deliveredPk('orders', 'crm', 'o2'), statePk('orders', 'o1'), statePk('orders', 'o2')].sort());
    expect([...publisher.sent.keys()].sort()).toEqual(['https://sqs.local/deliver-crm', 'https://sqs.local/deliver-replica']);
  });
});

import 'aws-sdk-client-mock-vitest/extend';
import { DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { lambdaContext } from '../../../lib/local/sqs-poller';
import { replicaFlow, streamEvent, streamRecord } from '../../fixtures/streams';
import { unpackBody } from '../../../functions/core/packing';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/people-transform';
const TABLE = 'people-primary';

const ddb = mockClient(DynamoDBClient);
const doc = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

type Entry = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<any>;
let handler: Entry;
const invoke = (event: unknown) => handler(event, lambdaContext('people-capture-primary', 60));
const sentEnvelopes = () =>
  sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => (c.args[0].input as SendMessageBatchCommandInput).Entries!.flatMap((e) => (unpackBody(e.MessageBody!) ?? [e.MessageBody!]).map((b) => JSON.parse(b) as ChangeEnvelope)));

beforeAll(async () => {
  // The module reads its config and environment once, at load, as on a cold start.
  vi.stubGlobal('__SYNCLINE_FLOW__', JSON.stringify(replicaFlow));
  vi.stubEnv('SOURCE_ID', 'primary');
  vi.stubEnv('SOURCE_TABLE', TABLE);
  vi.stubEnv('TRANSFORM_QUEUE_URL', QUEUE);
  vi.stubEnv('AUDIT_TABLE', 'audit');
  vi.stubEnv('QUARANTINE_TABLE', 'quarantine');
  vi.stubEnv('PAYLOAD_BUCKET', 'payloads');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  handler = (await import('../../../functions/entry/dynamodb-stream-capture')).handler as unknown as Entry;
});

afterAll(() => {
  vi.unstubAllGlobals();
  vi.unstubAllEnvs();
});

beforeEach(() => {
  ddb.reset();
  doc.reset();
  sqs.reset();
  sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({ Successful: input.Entries!.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: '' })), Failed: [] }));
  doc.on(BatchWriteCommand).resolves({});
  ddb.on(DescribeTableCommand).resolves({ Table: { TableName: TABLE, ItemCount: 42 } });
});

describe('dynamodb-stream capture entry', () => {
  it('sends stream events to the stream capture, as before, without scanning the table', async () => {
    // Act
    const answer = await invoke(streamEvent(streamRecord('INSERT', { newImage: { id: { S: 'a' }, status: { S: 'active' } } }, { seq: '100' })));

    // Assess
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(sentEnvelopes().map((e) => [e.op, e.seq, e.data?.id])).toEqual([['upsert', '100', 'a']]);
    expect(ddb).not.toHaveReceivedCommand(ScanCommand);
  });

  it('runs a backfill chunk on a direct invocation: scans its segment of the source table and answers the chunk with a cursor', async () => {
    // Prepare
    ddb.on(ScanCommand).resolves({ Items: [{ id: { S: 'a' }, status: { S: 'active' } }, { id: { S: 'b' }, status: { S: 'active' } }], LastEvaluatedKey: { id: { S: 'b' } } });

    // Act
    const answer = await invoke({ action: 'backfill', sourceId: 'primary', segment: 1, totalSegments: 3, maxItems: 2 });

    // Assess
    expect(ddb).toHaveReceivedCommandWith(ScanCommand, { TableName: TABLE, Segment: 1, TotalSegments: 3, ConsistentRead: true, Limit: 2 });
    expect(ddb).toHaveReceivedCommandWith(DescribeTableCommand, { TableName: TABLE });
    expect(answer).toEqual({ flow: 'people', source: 'primary', table: TABLE, segment: 1, totalSegments: 3, scanned: 2, sent: 2, filtered: 0, quarantined: 0, failed: 0, cursor: expect.any(String), approximateItems: 42 });
    expect(sentEnvelopes().map((e) => [e.op, e.data?.id])).toEqual([
      ['upsert', 'a'],
      ['upsert', 'b'],
    ]);
    expect(doc).toHaveReceivedCommand(BatchWriteCommand);
  });

  it('resumes a chunk from its cursor: the scan starts after the last key of the previous answer', async () => {
    // Prepare
    ddb.on(ScanCommand).resolvesOnce({ Items: [{ id: { S: 'a' }, status: { S: 'active' } }], LastEvaluatedKey: { id: { S: 'a' } } }).resolves({ Items: [{ id: { S: 'b' }, status: { S: 'active' } }] });
    const first = await invoke({ action: 'backfill', sourceId: 'primary', segment: 0, totalSegments: 1, maxItems: 1 });

    // Act
    const next = await invoke({ action: 'backfill', sourceId: 'primary', segment: 0, totalSegments: 1, cursor: first.cursor });

    // Assess
    expect(ddb).toHaveReceivedNthCommandWith(ScanCommand, 2, { ExclusiveStartKey: { id: { S: 'a' } }, Segment: 0, TotalSegments: 1 });
    expect(next).toMatchObject({ scanned: 1, sent: 1 });
    expect(next).not.toHaveProperty('cursor');
    expect(sentEnvelopes().map((e) => e.data?.id)).toEqual(['a', 'b']);
  });

  it.each([
    [{ action: 'backfill', sourceId: 'primary', segment: 3, totalSegments: 3 }, /segment must be below totalSegments/],
    [{ action: 'backfill', sourceId: 'primary', segment: 0, totalSegments: 1, cursor: 'not a cursor!' }, /invalid cursor: it is not base64url/],
    [{ action: 'backfill', sourceId: 'quiet', segment: 0, totalSegments: 1 }, /not "quiet"/],
    [{ hello: 'world' }, /not a DynamoDB stream event or a backfill request: expected \{"action": "backfill", "sourceId": "primary"/],
  ])('throws a clear error for %j, which a synchronous invoke answers as a FunctionError', async (event, message) => {
    await expect(invoke(event)).rejects.toThrow(message);
    expect(ddb).not.toHaveReceivedCommand(ScanCommand);
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });
});

import { describe, expect, it } from 'vitest';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { busNameOf, LocalEventBus } from '../../../lib/local/event-bus';
import { nextCronTime, parseCron } from '../../../lib/local/scheduler';
import { resumeIndex, toLambdaStreamRecord } from '../../../lib/local/stream-poller';

const utc = (s: string) => Date.parse(s);

describe('local cron schedule', () => {
  it('fires an EventBridge cron at its next minute, in UTC', () => {
    const cron = parseCron('cron(0 3 * * ? *)');
    expect(new Date(nextCronTime(cron, utc('2024-06-01T02:59:30Z'))!).toISOString()).toBe('2024-06-01T03:00:00.000Z');
    expect(new Date(nextCronTime(cron, utc('2024-06-01T03:00:00Z'))!).toISOString()).toBe('2024-06-02T03:00:00.000Z');
  });

  it('reads steps, ranges, names and EventBridge day-of-week numbers (1 = Sunday)', () => {
    // Every 15 minutes from 9 to 17 on weekdays.
    const cron = parseCron('0/15 9-17 ? * MON-FRI *');
    expect(new Date(nextCronTime(cron, utc('2024-06-01T10:00:00Z'))!).toISOString()).toBe('2024-06-03T09:00:00.000Z'); // Saturday -> Monday
    expect(new Date(nextCronTime(cron, utc('2024-06-03T09:01:00Z'))!).toISOString()).toBe('2024-06-03T09:15:00.000Z');
    const sundays = parseCron('30 6 ? * 1 *');
    expect(new Date(nextCronTime(sundays, utc('2024-06-01T00:00:00Z'))!).toISOString()).toBe('2024-06-02T06:30:00.000Z');
  });

  it('accepts a five-field Unix cron (0 = Sunday) and refuses L, W and #', () => {
    const cron = parseCron('0 12 1 * *');
    expect(new Date(nextCronTime(cron, utc('2024-06-15T00:00:00Z'))!).toISOString()).toBe('2024-07-01T12:00:00.000Z');
    expect(new Date(nextCronTime(parseCron('0 0 * * 0'), utc('2024-06-01T00:00:00Z'))!).toISOString()).toBe('2024-06-02T00:00:00.000Z');
    expect(() => parseCron('0 0 L * ? *')).toThrow(/not supported locally/);
    expect(() => parseCron('0 0 ? * 2#1 *')).toThrow(/not supported locally/);
    expect(() => parseCron('0 0 * *')).toThrow(/5 \(Unix\) or 6/);
  });
});

describe('local DynamoDB stream mapping', () => {
  const sdkRecord = {
    eventID: 'e1',
    eventName: 'INSERT' as const,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'ddblocal',
    dynamodb: {
      ApproximateCreationDateTime: new Date('2024-06-01T10:00:07.500Z'),
      Keys: { id: { S: 'a' } },
      NewImage: { id: { S: 'a' }, blob: { B: new Uint8Array([1, 2, 3]) } },
      SequenceNumber: '000000000000000000042',
      SizeBytes: 20,
      StreamViewType: 'NEW_AND_OLD_IMAGES' as const,
    },
  };

  it('shapes a GetRecords record like Lambda: epoch seconds, base64 binaries, the stream ARN and region', () => {
    const r = toLambdaStreamRecord(sdkRecord as never, 'arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/x', 'us-east-1');
    expect(r).toEqual({
      eventID: 'e1',
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: 'us-east-1',
      dynamodb: {
        ApproximateCreationDateTime: 1717236007,
        Keys: { id: { S: 'a' } },
        NewImage: { id: { S: 'a' }, blob: { B: 'AQID' } },
        SequenceNumber: '000000000000000000042',
        SizeBytes: 20,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
      eventSourceARN: 'arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/x',
    });
  });

  it('resumes from the lowest failed sequence number; an unknown or empty identifier fails the whole batch', () => {
    const records = ['1', '2', '3'].map((n) => ({ dynamodb: { SequenceNumber: n } }));
    expect(resumeIndex(records, { batchItemFailures: [] })).toBe(-1);
    expect(resumeIndex(records, undefined)).toBe(-1);
    expect(resumeIndex(records, { batchItemFailures: [{ itemIdentifier: '3' }, { itemIdentifier: '2' }] })).toBe(1);
    expect(resumeIndex(records, { batchItemFailures: [{ itemIdentifier: '9' }] })).toBe(0);
    expect(resumeIndex(records, { batchItemFailures: [{ itemIdentifier: '' }] })).toBe(0);
  });
});

describe('LocalEventBus', () => {
  it('records every event and sends the full event to each rule whose bus and pattern match', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    const bus = new LocalEventBus({
      sqs: new SQSClient({ region: 'us-east-1' }),
      region: 'us-east-1',
      rules: [
        { busName: 'shop', pattern: { source: ['shop'], detail: { total: [{ numeric: ['>', 10] }] } }, queueName: 'f-inbound-big', queueUrl: 'q-big' },
        { busName: 'default', pattern: { source: ['shop'] }, queueName: 'f-inbound-default', queueUrl: 'q-default' },
      ],
    });

    const out = await bus.putEvents([
      { Source: 'shop', DetailType: 'OrderPlaced', Detail: '{"total": 20}', EventBusName: 'arn:aws:events:us-east-1:123456789012:event-bus/shop' },
      { Source: 'shop', DetailType: 'OrderPlaced', Detail: '{"total": 5}', EventBusName: 'shop' },
      { Source: 'shop', DetailType: 'OrderPlaced', Detail: '[1]' },
    ]);

    expect(out.FailedEntryCount).toBe(1);
    expect(out.Entries[2]).toMatchObject({ ErrorCode: 'MalformedDetail' });
    expect(bus.list('shop').map((e) => e.routedTo)).toEqual([['f-inbound-big'], []]);
    expect(bus.list()).toHaveLength(2);
    const sent = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.QueueUrl).toBe('q-big');
    expect(JSON.parse(sent[0]!.MessageBody!)).toMatchObject({ version: '0', source: 'shop', 'detail-type': 'OrderPlaced', region: 'us-east-1', resources: [], detail: { total: 20 } });
    await expect(bus.putEvents(Array.from({ length: 11 }, () => ({ Source: 's', DetailType: 'd', Detail: '{}' })))).rejects.toThrow(/at most 10/);
    sqs.restore();
  });

  it('refuses an entry with malformed Resources or a Detail nested too deep, keeps the list readable, and sends numbers as they came', async () => {
    // Prepare
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    const rules = [{ busName: 'default', pattern: { source: ['shop'], detail: { id: [{ exists: true }] } }, queueName: 'f-in', queueUrl: 'q' }];
    const bus = new LocalEventBus({ sqs: new SQSClient({ region: 'us-east-1' }), region: 'us-east-1', rules });
    const entry = (extra: Record<string, unknown>) => ({ Source: 'shop', DetailType: 'X', Detail: '{}', ...extra }) as never;

    // Act
    const out = await bus.putEvents([
      entry({ Resources: 'abc' }),
      entry({ Resources: [1, 2] }),
      entry({ Detail: `{"a":${'['.repeat(63)}${']'.repeat(63)}}` }),
      entry({ Detail: '{"n": 1e400, "id": 12345678901234567890}' }),
      entry({ Detail: { id: 1 } }),
    ]);

    // Assess
    expect(out.Entries.map((e) => e.ErrorCode)).toEqual(['InvalidArgument', 'InvalidArgument', 'MalformedDetail', undefined, 'InvalidArgument']);
    expect(out.Entries[4]!.ErrorMessage).toMatch(/Detail must be a string holding a JSON object/);
    expect(out.Entries[2]!.ErrorMessage).toMatch(/nested deeper than 63 levels/);
    expect(() => JSON.stringify(bus.list())).not.toThrow();
    expect(bus.list()[0]!.routedTo).toEqual(['f-in']);
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input.MessageBody).toContain('"detail":{"n":1e400,"id":12345678901234567890}');
    sqs.restore();
  });

  it('names a bus by its name or ARN, `default` when absent', () => {
    expect(busNameOf(undefined)).toBe('default');
    expect(busNameOf('arn:aws:events:eu-west-1:123456789012:event-bus/orders')).toBe('orders');
    expect(busNameOf('orders')).toBe('orders');
  });
});

import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { SqsQueueDepths } from '../../../functions/adapters/sqs-queue-depths';

const sqs = mockClient(SQSClient);
const URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/orders-transform';

describe('SqsQueueDepths', () => {
  beforeEach(() => sqs.reset());

  it('adds visible and in-flight messages into the depth', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '2' } });

    // Act
    const depth = await new SqsQueueDepths(new SQSClient({ region: 'eu-west-1' })).depth(URL);

    // Assess
    expect(depth).toEqual({ visible: 3, inFlight: 2, total: 5 });
    expect(sqs).toHaveReceivedCommandWith(GetQueueAttributesCommand, { QueueUrl: URL, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] });
  });

  it("reads a queue's DLQ from its RedrivePolicy, and none when it has no policy", async () => {
    // Prepare
    const dlqArn = 'arn:aws:sqs:eu-west-1:111122223333:orders-transform-dlq';
    sqs.on(GetQueueAttributesCommand, { QueueUrl: URL }).resolves({ Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) } });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: `${URL}-dlq` }).resolves({ Attributes: {} });
    const depths = new SqsQueueDepths(new SQSClient({ region: 'eu-west-1' }));

    // Act
    const [withDlq, without] = await Promise.all([depths.deadLetterArn(URL), depths.deadLetterArn(`${URL}-dlq`)]);

    // Assess
    expect(withDlq).toBe(dlqArn);
    expect(without).toBeUndefined();
    expect(sqs).toHaveReceivedCommandWith(GetQueueAttributesCommand, { QueueUrl: URL, AttributeNames: ['RedrivePolicy'] });
  });
});

import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueDepth, QueueDepths } from '../ports';

/** QueueDepths on SQS: one GetQueueAttributes call per queue; also reads where a queue's dead letters go. */
export class SqsQueueDepths implements QueueDepths {
  constructor(private readonly client: SQSClient) {}

  async depth(queueUrl: string): Promise<QueueDepth> {
    const got = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    const visible = Number(got.Attributes?.ApproximateNumberOfMessages ?? 0);
    const inFlight = Number(got.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    return { visible, inFlight, total: visible + inFlight };
  }

  /** The ARN of the queue's DLQ (its RedrivePolicy), or undefined when it has none. */
  async deadLetterArn(queueUrl: string): Promise<string | undefined> {
    const got = await this.client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
    const policy = got.Attributes?.RedrivePolicy;
    return policy ? (JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn : undefined;
  }
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReceiveMessageCommand, DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { createQueue, integrationClients, uniqueSuffix } from '../support/local-servers';

describe('SqsPublisher against fauxqs', () => {
  const clients = integrationClients();
  let queueUrl: string;

  beforeAll(async () => {
    queueUrl = (await createQueue(clients, `it-publisher-${uniqueSuffix()}`)).url;
  });
  afterAll(() => clients.destroy());

  it('sends more than 10 messages through SendMessageBatch and every one arrives once', async () => {
    // Prepare
    const publisher = new SqsPublisher({ client: clients.sqs });
    const messages = Array.from({ length: 27 }, (_, i) => ({ id: `m-${i}`, body: JSON.stringify({ i }) }));

    // Act
    const result = await publisher.send(queueUrl, messages);

    // Assess
    expect(result.failed).toEqual([]);
    const seen: number[] = [];
    for (let round = 0; round < 20 && seen.length < messages.length; round++) {
      const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      const got = out.Messages ?? [];
      if (got.length === 0) break;
      seen.push(...got.map((m) => (JSON.parse(m.Body!) as { i: number }).i));
      await clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: got.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    expect(seen.sort((a, b) => a - b)).toEqual(messages.map((_, i) => i));
  });
});

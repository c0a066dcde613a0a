import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3PayloadStore } from '../../functions/adapters/s3-payload-store';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { claimOf } from '../../functions/core/claim-check';
import type { ChangeEnvelope } from '../../functions/core/envelope';
import { envelopeSchema, parseBody } from '../../functions/handlers/step-messages';
import { resolveClaimChecks } from '../../functions/handlers/claim-checks';
import { ensureBucket } from '../../lib/local/resources';
import { createQueue, integrationClients, uniqueSuffix } from '../support/local-servers';

describe('claim check against fauxqs S3 and SQS', () => {
  const clients = integrationClients();
  const bucket = `it-payloads-${uniqueSuffix()}`;
  let queueUrl: string;

  beforeAll(async () => {
    await ensureBucket(clients.s3, bucket);
    queueUrl = (await createQueue(clients, `it-claims-${uniqueSuffix()}`)).url;
  });
  afterAll(() => clients.destroy());

  /** Receives every message of the queue as Lambda would hand them over (only the fields the consumer reads). */
  async function receiveAll(expected: number): Promise<SQSRecord[]> {
    const out: SQSRecord[] = [];
    for (let round = 0; round < 20 && out.length < expected; round++) {
      const got = (await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))).Messages ?? [];
      out.push(...got.map((m) => ({ messageId: m.MessageId!, body: m.Body! }) as SQSRecord));
      if (got.length) await clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: got.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    return out;
  }

  it('carries a 300 KB envelope through publisher -> queue -> consumer parse intact, next to a small one', async () => {
    // Prepare
    const payloads = new S3PayloadStore({ client: clients.s3, bucket });
    const publisher = new SqsPublisher({ client: clients.sqs, payloads });
    const envelope = (id: string, blob: string): ChangeEnvelope => ({
      v: 1,
      id,
      flow: 'contacts',
      source: 'crm',
      key: id,
      op: 'upsert',
      data: { id, blob, unicode: 'é✓' },
      ts: 1_768_471_200_000,
      seq: `${id}#000`,
      lineage: [{ step: 'capture', at: 1, outcome: 'captured' }],
    });
    const big = envelope('big', 'x'.repeat(300 * 1024));
    const small = envelope('small', 'y');

    // Act
    const sent = await publisher.send(queueUrl, [
      { id: big.id, body: JSON.stringify(big) },
      { id: small.id, body: JSON.stringify(small) },
    ]);
    const received = await receiveAll(2);
    const { records, failed } = await resolveClaimChecks(received, payloads);
    const parsed = records.map((r) => parseBody(envelopeSchema, r.body));

    // Assess
    expect(sent.failed).toEqual([]);
    expect(received).toHaveLength(2);
    expect(received.filter((r) => claimOf(r.body) !== undefined)).toHaveLength(1);
    expect(received.every((r) => Buffer.byteLength(r.body) < 256 * 1024)).toBe(true);
    expect(failed).toEqual([]);
    const values = parsed.map((p) => (p.ok ? p.value : p.errors)).sort((a, b) => JSON.stringify(a).length - JSON.stringify(b).length);
    expect(values).toEqual([small, big]);
  });

  it('fails only a message whose claim is gone', async () => {
    // Prepare
    const payloads = new S3PayloadStore({ client: clients.s3, bucket });
    const publisher = new SqsPublisher({
      client: clients.sqs,
      payloads: { put: async () => `claims/2026-01-15/${'a'.repeat(64)}.0123456789abcdef.json`, get: payloads.get.bind(payloads), delete: payloads.delete.bind(payloads) },
    });

    // Act
    await publisher.send(queueUrl, [
      { id: 'lost', body: 'z'.repeat(260 * 1024) },
      { id: 'ok', body: '{"v":1}' },
    ]);
    const received = await receiveAll(2);
    const { records, failed } = await resolveClaimChecks(received, payloads);

    // Assess
    expect(failed).toHaveLength(1);
    expect(received.find((r) => r.messageId === failed[0])!.body).toContain('syncline:claim');
    expect(records.map((r) => r.body)).toEqual(['{"v":1}']);
  });
});

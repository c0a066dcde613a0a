import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { QueueJournal } from '../../lib/local/queue-journal';
import { createQueue, integrationClients, uniqueSuffix } from '../support/local-servers';

describe('the queue journal of --persist (fauxqs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-journal-'));
  const clients = integrationClients();
  afterAll(() => {
    clients.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends again, after a restart, exactly the messages sent and not deleted, with their attributes', async () => {
    // Prepare: a journaled queue and an unjournaled one.
    const name = `journal-${uniqueSuffix()}`;
    const other = `other-${uniqueSuffix()}`;
    const q = await createQueue(clients, name);
    const o = await createQueue(clients, other);
    const first = new QueueJournal(dir);
    expect(await first.open(clients.sqs, (n) => n === name, () => undefined)).toEqual({});

    // Act: 12 sends (batch and single), 5 received and deleted, one send to the unjournaled queue; then a "restart".
    await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: q.url, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: `{"n":${i}}` })) }));
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: '{"n":10}', MessageAttributes: { kind: { DataType: 'String', StringValue: 'single' } } }));
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: '{"n":11}' }));
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: o.url, MessageBody: 'not journaled' }));
    const got = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 5 }));
    expect(got.Messages).toHaveLength(5);
    await clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: q.url, Entries: got.Messages!.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    const deleted = new Set(got.Messages!.map((m) => m.Body));
    first.close();
    // The in-memory server lost everything: a fresh queue stands for the restarted one.
    const freshName = `fresh-${uniqueSuffix()}`;
    const fresh = await createQueue(clients, freshName);
    const second = new QueueJournal(dir);
    const replayed = await second.open(clients.sqs, (n) => n === name || n === freshName, (n) => (n === name ? fresh.url : undefined));

    // Assess: the 7 left, no more, no fewer, attributes kept; and they are journaled again under their new ids.
    expect(replayed).toEqual({ [name]: 7 });
    const bodies: string[] = [];
    let attrs: Record<string, unknown> | undefined;
    for (let i = 0; i < 5 && bodies.length < 7; i++) {
      const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: fresh.url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }));
      for (const m of out.Messages ?? []) {
        bodies.push(m.Body!);
        if (m.Body === '{"n":10}') attrs = m.MessageAttributes;
      }
    }
    const expected = Array.from({ length: 12 }, (_, i) => `{"n":${i}}`).filter((b) => !deleted.has(b));
    expect(bodies.sort()).toEqual(expected.sort());
    if (!deleted.has('{"n":10}')) expect(attrs).toEqual({ kind: { DataType: 'String', StringValue: 'single' } });
    expect(second.size).toBe(7);
    second.close();
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import type { InitializeMiddleware } from '@smithy/types';
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

  /** Bodies on a queue, received until `n` are seen or the queue stays empty. */
  async function bodiesOn(url: string, n: number): Promise<string[]> {
    const bodies: string[] = [];
    for (let i = 0; i < 5 && bodies.length < n; i++) {
      const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
      bodies.push(...(out.Messages ?? []).map((m) => m.Body!));
    }
    return bodies.sort();
  }

  it('sends again every message of a replay that a kill cut short, not only those the cut replay had re-sent', async () => {
    // Prepare: a replay of A, B and C was killed after re-sending A (journaled under its new id).
    const folder = mkdtempSync(join(dir, 'cut-'));
    const name = `cut-${uniqueSuffix()}`;
    const q = await createQueue(clients, name);
    const line = (id: string, b: string) => JSON.stringify({ s: { q: name, id, b } });
    writeFileSync(join(folder, 'queue-journal.replaying.jsonl'), [line('a', 'A'), line('b', 'B'), line('c', 'C')].join('\n') + '\n');
    writeFileSync(join(folder, 'queue-journal.jsonl'), line('a2', 'A') + '\n');

    // Act
    const journal = new QueueJournal(folder);
    const replayed = await journal.open(clients.sqs, (n) => n === name, () => q.url);
    journal.close();

    // Assess: B and C too (A twice: deliveries are idempotent).
    expect(replayed).toEqual({ [name]: 4 });
    expect(await bodiesOn(q.url, 4)).toEqual(['A', 'A', 'B', 'C']);
  });

  it('keeps a message whose delete the queue refused in a DeleteMessageBatch, and sends it again after a restart', async () => {
    // Prepare: two messages received; the batch delete of both is answered with one entry failed.
    const folder = mkdtempSync(join(dir, 'refused-'));
    const name = `refused-${uniqueSuffix()}`;
    const q = await createQueue(clients, name);
    const journal = new QueueJournal(folder);
    await journal.open(clients.sqs, (n) => n === name, () => q.url);
    await clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: q.url, Entries: [{ Id: '0', MessageBody: 'kept' }, { Id: '1', MessageBody: 'gone' }] }));
    const got = (await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10 }))).Messages!;
    expect(got.map((m) => m.Body).sort()).toEqual(['gone', 'kept']);
    // Inside the journal's middleware (same step, lower priority): the queue is asked to delete `gone` only.
    const refuseKept: InitializeMiddleware<any, any> = (next, context) => async (args) => {
      if (context.commandName !== 'DeleteMessageBatchCommand') return next(args);
      const input = args.input as { Entries: { Id: string; ReceiptHandle: string }[] };
      const keptId = input.Entries.find((e) => e.ReceiptHandle === got.find((m) => m.Body === 'kept')!.ReceiptHandle)!.Id;
      const result = await next({ ...args, input: { ...input, Entries: input.Entries.filter((e) => e.Id !== keptId) } });
      Object.assign(result.output as object, { Failed: [{ Id: keptId, Code: 'InternalError', SenderFault: false, Message: 'injected' }] });
      return result;
    };
    clients.sqs.middlewareStack.add(refuseKept, { step: 'initialize', priority: 'low', name: 'refuseKept' });

    // Act
    try {
      await clients.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: q.url, Entries: got.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    } finally {
      clients.sqs.middlewareStack.remove('refuseKept');
    }
    journal.close();
    const fresh = await createQueue(clients, `refused-fresh-${uniqueSuffix()}`);
    const restarted = new QueueJournal(folder);
    const replayed = await restarted.open(clients.sqs, (n) => n === name, () => fresh.url);
    restarted.close();

    // Assess
    expect(replayed).toEqual({ [name]: 1 });
    expect(await bodiesOn(fresh.url, 1)).toEqual(['kept']);
  });
});

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  SendMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { chunk } from '../../functions/core/chunk';

/** A message the journal holds: sent through the runtime's client and not deleted yet. */
interface JournaledMessage {
  readonly q: string;
  readonly id: string;
  readonly b: string;
  readonly a?: Record<string, MessageAttributeValue>;
}

type Line = { s: JournaledMessage } | { x: string };

const JOURNAL = 'queue-journal.jsonl';
const REPLAYING = 'queue-journal.replaying.jsonl';
/** Compact when the file holds this many lines and four times more than the live messages. */
const COMPACT_AFTER_LINES = 20_000;
/** Deletes seen before their send's answer (the consumer can be quicker than the sender's callback). */
const EARLY_DELETES_KEPT = 10_000;
/** Receipt handles remembered for deletes; a retried message gets a new one each receive, so old ones are dropped. */
const HANDLES_KEPT = 100_000;

const MIDDLEWARE = 'synclineQueueJournal';

const queueNameOf = (queueUrl: string): string => queueUrl.slice(queueUrl.lastIndexOf('/') + 1);

/**
 * A write-ahead journal of the local SQS queues, so `--persist` survives a kill: fauxqs keeps messages in memory
 * only. Every message sent to a journaled queue through the runtime's SQS client is appended before the send's
 * answer reaches the caller (a webhook is answered 202 only after that), and every delete is appended too.
 * At start the messages sent and never deleted are sent again. Lines are written with one write(2) each, so a
 * killed process loses none (the kernel holds them); a power cut may lose the last ones.
 *
 * What the journal cannot keep: the receive count (a message comes back with a fresh one), the queue a message
 * had been moved to by the DLQ redrive policy (it comes back to the queue it was sent to and fails there again),
 * and messages other clients send straight to fauxqs.
 */
export class QueueJournal {
  private readonly dir: string;
  private readonly live = new Map<string, string>();
  private readonly handles = new Map<string, string>();
  private readonly early = new Set<string>();
  private fd: number | undefined;
  private lines = 0;
  private journaled: (queueName: string) => boolean = () => false;
  private client: SQSClient | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The messages to send again: those of the last run (and of a replay it did not finish), sent and not deleted. */
  private pending(): JournaledMessage[] {
    const current = join(this.dir, JOURNAL);
    const replaying = join(this.dir, REPLAYING);
    if (existsSync(replaying) && existsSync(current)) {
      // A replay was cut short: its messages, plus whatever the short run journaled, are all still due.
      const fd = openSync(replaying, 'a');
      writeSync(fd, readFileSync(current));
      fsyncSync(fd);
      closeSync(fd);
      rmSync(current);
    } else if (existsSync(current)) renameSync(current, replaying);
    if (!existsSync(replaying)) return [];
    const messages = new Map<string, JournaledMessage>();
    for (const text of readFileSync(replaying, 'utf8').split('\n')) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a line torn by a power cut
      }
      if ('s' in line) messages.set(line.s.id, line.s);
      else messages.delete(line.x);
    }
    return [...messages.values()];
  }

  /**
   * Journals the runtime's SQS client from now on, for the queues `journaled` accepts (by name), and sends again
   * what the last run left. Answers the number of messages sent again, by queue name.
   */
  async open(sqs: SQSClient, journaled: (queueName: string) => boolean, queueUrlOf: (queueName: string) => string | undefined): Promise<Record<string, number>> {
    this.journaled = journaled;
    const due = this.pending();
    this.fd = openSync(join(this.dir, JOURNAL), 'a', 0o600);
    this.attach(sqs);
    const replayed: Record<string, number> = {};
    const byQueue = new Map<string, JournaledMessage[]>();
    for (const m of due) byQueue.set(m.q, [...(byQueue.get(m.q) ?? []), m]);
    for (const [queue, messages] of byQueue) {
      const url = queueUrlOf(queue);
      if (!url || !journaled(queue)) continue; // a queue the config no longer has
      for (const part of chunk(messages, 10)) {
        const entries: SendMessageBatchRequestEntry[] = part.map((m, j) => ({ Id: String(j), MessageBody: m.b, ...(m.a ? { MessageAttributes: m.a } : {}) }));
        const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
        if (out.Failed?.length) throw new Error(`replaying the queue journal into ${queue}: ${out.Failed[0]!.Message ?? out.Failed[0]!.Code}`);
      }
      replayed[queue] = messages.length;
    }
    fsyncSync(this.fd);
    rmSync(join(this.dir, REPLAYING), { force: true });
    return replayed;
  }

  /** Stops journaling the client and closes the file. */
  close(): void {
    this.client?.middlewareStack.remove(MIDDLEWARE);
    this.client = undefined;
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Messages sent and not deleted yet. */
  get size(): number {
    return this.live.size;
  }

  /** The bodies of the messages sent and not deleted yet. */
  liveBodies(): string[] {
    return [...this.live.values()].map((text) => ((JSON.parse(text) as { s: JournaledMessage }).s.b));
  }

  private append(lines: Line[]): void {
    if (this.fd === undefined || lines.length === 0) return;
    writeSync(this.fd, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    this.lines += lines.length;
    if (this.lines > COMPACT_AFTER_LINES && this.lines > 4 * this.live.size) this.compact();
  }

  /** Rewrites the journal with the live messages only, atomically. */
  private compact(): void {
    const tmp = join(this.dir, `${JOURNAL}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    writeSync(fd, [...this.live.values()].map((s) => `${s}\n`).join(''));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dir, JOURNAL));
    closeSync(this.fd!);
    this.fd = openSync(join(this.dir, JOURNAL), 'a', 0o600);
    this.lines = this.live.size;
  }

  private sent(queueUrl: string, id: string | undefined, body: string | undefined, attributes: Record<string, MessageAttributeValue> | undefined): Line | undefined {
    if (!id || body === undefined || !this.journaled(queueNameOf(queueUrl))) return undefined;
    if (this.early.delete(id)) return undefined;
    const line: Line = { s: { q: queueNameOf(queueUrl), id, b: body, ...(attributes && Object.keys(attributes).length ? { a: attributes } : {}) } };
    this.live.set(id, JSON.stringify(line));
    return line;
  }

  private deleted(receiptHandle: string | undefined): Line | undefined {
    const id = receiptHandle === undefined ? undefined : this.handles.get(receiptHandle);
    if (receiptHandle !== undefined) this.handles.delete(receiptHandle);
    if (!id) return undefined;
    if (!this.live.delete(id)) {
      if (this.early.size >= EARLY_DELETES_KEPT) this.early.delete(this.early.values().next().value!);
      this.early.add(id);
      return undefined;
    }
    return { x: id };
  }

  private attach(sqs: SQSClient): void {
    this.client = sqs;
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        const input = args.input as Record<string, any>;
        const output = result.output as Record<string, any>;
        switch (context.commandName) {
          case 'SendMessageCommand':
            this.append([this.sent(input.QueueUrl, output.MessageId, input.MessageBody, input.MessageAttributes)].filter((l): l is Line => !!l));
            break;
          case 'SendMessageBatchCommand': {
            const byId = new Map<string, any>(input.Entries.map((e: SendMessageBatchRequestEntry) => [e.Id, e]));
            const lines = (output.Successful ?? []).map((s: { Id: string; MessageId: string }) => {
              const e = byId.get(s.Id);
              return this.sent(input.QueueUrl, s.MessageId, e?.MessageBody, e?.MessageAttributes);
            });
            this.append(lines.filter((l: Line | undefined): l is Line => !!l));
            break;
          }
          case 'ReceiveMessageCommand':
            for (const m of (output.Messages ?? []) as Message[]) {
              if (!m.ReceiptHandle || !m.MessageId) continue;
              if (this.handles.size >= HANDLES_KEPT) this.handles.delete(this.handles.keys().next().value!);
              this.handles.set(m.ReceiptHandle, m.MessageId);
            }
            break;
          case 'DeleteMessageCommand':
            this.append([this.deleted(input.ReceiptHandle)].filter((l): l is Line => !!l));
            break;
          case 'DeleteMessageBatchCommand': {
            const ok = new Set((output.Successful ?? []).map((s: { Id: string }) => s.Id));
            const lines = input.Entries.filter((e: { Id: string }) => ok.has(e.Id)).map((e: { ReceiptHandle: string }) => this.deleted(e.ReceiptHandle));
            this.append(lines.filter((l: Line | undefined): l is Line => !!l));
            break;
          }
        }
        return result;
      },
      { step: 'initialize', name: MIDDLEWARE },
    );
  }
}

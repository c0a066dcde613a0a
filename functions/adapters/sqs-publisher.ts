import { ChangeMessageVisibilityBatchCommand, GetQueueAttributesCommand, SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { claimOf, claimPointer, MAX_INLINE_BYTES } from '../core/claim-check';
import { toAsciiJson } from '../core/json-safety';
import { packItems } from '../core/packing';
import type { OutboundMessage, PayloadStore, Publisher } from '../ports';
import { backoffMs, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface SqsPublisherOptions {
  readonly client: SQSClient;
  readonly retry?: RetryOptions;
  /**
   * Claim check: a body over {@link MAX_INLINE_BYTES} is put here and the queue gets a small pointer instead.
   * @default - none: a body over 256 KB fails (its id is returned in `failed`)
   */
  readonly payloads?: PayloadStore;
  /**
   * Queues whose consumer unpacks (syncline's own step queues): their messages travel several to an SQS message.
   * @default - none: one message per SQS message
   */
  readonly packs?: (queueUrl: string) => boolean;
}

/** SQS limits of one SendMessageBatch call. */
export const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 256 * 1024;
/** SQS caps a delay at 15 minutes and a visibility at 12 hours from the receive (11 here: the invocation comes first). */
const MAX_DELAY_SECONDS = 900;
const MAX_HOLD_SECONDS = 11 * 3600;

/**
 * Publisher on SendMessageBatch: batches of at most 10 entries and 256 KB, retrying entries that failed
 * on the server side and throttling with backoff. Returns the ids that still failed (including
 * sender faults and single messages over 256 KB). Non-retryable call errors (a missing queue,
 * access denied) are thrown. With a `payloads` store, bodies over 250 KB travel as claim-check pointers; a
 * body whose put fails is returned in `failed` like any other message that could not be sent.
 */
export class SqsPublisher implements Publisher {
  private readonly client: SQSClient;
  private readonly retry: ResolvedRetry;
  private readonly payloads: PayloadStore | undefined;
  private readonly packs: (queueUrl: string) => boolean;
  private readonly visibilities = new Map<string, Promise<number>>();

  constructor(options: SqsPublisherOptions) {
    this.client = options.client;
    this.packs = options.packs ?? (() => false);
    this.retry = resolveRetry(options.retry);
    this.payloads = options.payloads;
  }

  async send(queueUrl: string, input: readonly OutboundMessage[], options: { readonly single?: boolean; readonly delaySeconds?: number } = {}): Promise<{ failed: string[] }> {
    const failed: string[] = [];
    // ASCII-safe bodies: real SQS refuses U+FFFE/U+FFFF and some local servers anything above U+FFFF.
    const claimed = await this.claimLarge(
      input.map((m) => ({ id: m.id, body: toAsciiJson(m.body) })),
      failed,
    );
    // A pack goes by the id of its first message; a failed pack fails every message in it. A claim-check pointer
    // goes alone: consumers resolve pointers per SQS message, before unpacking.
    const alone = (m: OutboundMessage) => ({ ids: [m.id], body: m.body });
    const packed =
      this.packs(queueUrl) && !options.single
        ? [...packItems(claimed.filter((m) => claimOf(m.body) === undefined)), ...claimed.filter((m) => claimOf(m.body) !== undefined).map(alone)]
        : claimed.map(alone);
    const idsOf = new Map(packed.map((p) => [p.ids[0]!, p.ids]));
    const messages = packed.map((p) => ({ id: p.ids[0]!, body: p.body }));
    const batches: OutboundMessage[][] = [];
    let current: OutboundMessage[] = [];
    let bytes = 0;
    for (const m of messages) {
      const size = Buffer.byteLength(m.body, 'utf8');
      if (size > MAX_BATCH_BYTES) {
        failed.push(m.id);
        continue;
      }
      if (current.length === MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(m);
      bytes += size;
    }
    if (current.length) batches.push(current);
    const delay = options.delaySeconds === undefined ? undefined : Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(options.delaySeconds)));
    for (const batch of batches) failed.push(...(await this.sendBatch(queueUrl, batch, delay)));
    return { failed: failed.flatMap((id) => idsOf.get(id) ?? [id]) };
  }

  /**
   * ChangeMessageVisibilityBatch, except where the queue's own visibility timeout hides the messages long enough: it
   * counts from their receive, and a Lambda's queue has six times the function's timeout, so an invocation has used
   * at most a sixth of it; a hold within half of it needs no call. Answers the handles now held: none where no call
   * was needed, and not those SQS refused or whose call failed (they keep the queue's timeout).
   */
  async hold(queueUrl: string, receiptHandles: readonly string[], seconds: number): Promise<string[]> {
    const visibility = Math.min(MAX_HOLD_SECONDS, Math.ceil(seconds));
    if (receiptHandles.length === 0 || visibility <= (await this.visibilityOf(queueUrl)) / 2) return [];
    const held: string[] = [];
    for (let i = 0; i < receiptHandles.length; i += MAX_BATCH_ENTRIES) {
      const part = receiptHandles.slice(i, i + MAX_BATCH_ENTRIES);
      const out = await this.client
        .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: part.map((h, j) => ({ Id: `h${j}`, ReceiptHandle: h, VisibilityTimeout: visibility })) }))
        .catch(() => undefined);
      for (const ok of out?.Successful ?? []) held.push(part[Number(ok.Id!.slice(1))]!);
    }
    return held;
  }

  /** A queue's visibility timeout, read once per queue. */
  private visibilityOf(queueUrl: string): Promise<number> {
    let known = this.visibilities.get(queueUrl);
    if (!known) {
      known = this.client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout'] })).then((out) => Number(out.Attributes?.VisibilityTimeout ?? 30));
      known.catch(() => this.visibilities.delete(queueUrl));
      this.visibilities.set(queueUrl, known);
    }
    return known;
  }

  /** Replaces bodies over {@link MAX_INLINE_BYTES} by claim-check pointers (when there is a store); failed puts go to `failed`. */
  private async claimLarge(messages: readonly OutboundMessage[], failed: string[]): Promise<OutboundMessage[]> {
    const store = this.payloads;
    if (!store) return [...messages];
    const out = await Promise.all(
      messages.map(async (m): Promise<OutboundMessage | undefined> => {
        if (Buffer.byteLength(m.body, 'utf8') <= MAX_INLINE_BYTES) return m;
        try {
          return { id: m.id, body: claimPointer(await store.put(m.body)) };
        } catch {
          failed.push(m.id);
          return undefined;
        }
      }),
    );
    return out.filter((m): m is OutboundMessage => m !== undefined);
  }

  private async sendBatch(queueUrl: string, batch: readonly OutboundMessage[], delaySeconds: number | undefined): Promise<string[]> {
    // Entry ids must be short and alphanumeric; caller ids are mapped back by position.
    let pending: { entryId: string; message: OutboundMessage }[] = batch.map((message, i) => ({ entryId: `m${i}`, message }));
    const permanent: string[] = [];
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.retry.maxAttempts) break;
      if (attempt > 1) await this.retry.sleep(backoffMs(this.retry, attempt - 1));
      const entries: SendMessageBatchRequestEntry[] = pending.map((p) => ({ Id: p.entryId, MessageBody: p.message.body, ...(delaySeconds ? { DelaySeconds: delaySeconds } : {}) }));
      // Throttling of the call itself was retried by the SDK client: this loop only retries partial results.
      const result = await this.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      const byId = new Map(pending.map((p) => [p.entryId, p]));
      const retry: typeof pending = [];
      for (const f of result.Failed ?? []) {
        const p = f.Id ? byId.get(f.Id) : undefined;
        if (!p) continue;
        if (f.SenderFault) permanent.push(p.message.id);
        else retry.push(p);
      }
      pending = retry;
    }
    return [...permanent, ...pending.map((p) => p.message.id)];
  }
}

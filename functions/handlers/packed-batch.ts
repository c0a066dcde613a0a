import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { unpackBody } from '../core/packing';
import type { Publisher } from '../ports';
import type { HeldBatchResponse } from './sqs-batch';

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** Where the records of a failed pack go back to, one per message: the queue the handler reads. */
export interface Repacking {
  readonly publisher: Publisher;
  /** Asked only when a pack has failed records (a queue that never carries packs needs none). */
  readonly queueUrl: () => string;
  readonly now?: () => number;
}

/**
 * A step handler that reads packs (several records to an SQS message) as well as single messages. The handler
 * sees one record per packed message, with the id `<messageId>#<n>`. When some records of a pack fail, they go
 * back to the queue one per message and the pack is acknowledged: each failed record is then retried, and
 * dead-lettered, on its own, and its pack-mates are not processed again. Should that send fail, the whole pack
 * fails and SQS retries it (its processed mates merge as repeats).
 *
 * A failed record the handler holds back (`heldUntil`: the API it goes to asked for a pause) is not received again
 * before then: a single message's visibility is extended, a record of a pack goes back delayed.
 */
export function readingPacks(handler: (event: SQSEvent) => Promise<HeldBatchResponse>, repack: Repacking): SqsHandler {
  const now = repack.now ?? Date.now;
  const secondsUntil = (ms: number | undefined) => (ms === undefined ? 0 : Math.max(0, (ms - now()) / 1000));
  return async (event) => {
    const items: { record: SQSRecord; parent: string; packed: boolean }[] = [];
    for (const r of event.Records) {
      const bodies = unpackBody(r.body);
      if (!bodies) items.push({ record: r, parent: r.messageId, packed: false });
      else bodies.forEach((body, n) => items.push({ record: { ...r, messageId: `${r.messageId}#${n}`, body }, parent: r.messageId, packed: true }));
    }
    const packed = items.some((i) => i.packed);
    const { batchItemFailures, heldUntil = {} } = await handler(packed ? { Records: items.map((i) => i.record) } : event);
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    const failures = new Set<string>();
    const split = new Map<number, typeof items>();
    const held = new Map<number, string[]>();
    for (const item of items) {
      if (!failed.has(item.record.messageId)) continue;
      const seconds = Math.ceil(secondsUntil(heldUntil[item.record.messageId]));
      if (item.packed) split.set(seconds, [...(split.get(seconds) ?? []), item]);
      else {
        failures.add(item.parent);
        if (seconds > 0) held.set(seconds, [...(held.get(seconds) ?? []), item.record.receiptHandle]);
      }
    }
    for (const [seconds, group] of split) {
      const sent = await Promise.resolve()
        .then(() => repack.publisher.send(repack.queueUrl(), group.map((i) => ({ id: i.record.messageId, body: i.record.body })), { single: true, ...(seconds > 0 ? { delaySeconds: seconds } : {}) }))
        .catch(() => ({ failed: group.map((i) => i.record.messageId) }));
      const unsent = new Set(sent.failed);
      for (const i of group) if (unsent.has(i.record.messageId)) failures.add(i.parent);
    }
    // Best effort: a hold that fails leaves the message to the queue's visibility timeout.
    const hold = repack.publisher.hold?.bind(repack.publisher);
    if (hold) for (const [seconds, handles] of held) await Promise.resolve().then(() => hold(repack.queueUrl(), handles, seconds)).catch(() => undefined);
    return { batchItemFailures: [...failures].map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

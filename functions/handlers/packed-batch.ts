import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { unpackBody } from '../core/packing';
import type { Publisher } from '../ports';

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** Where the records of a failed pack go back to, one per message: the queue the handler reads. */
export interface Repacking {
  readonly publisher: Publisher;
  /** Asked only when a pack has failed records (a queue that never carries packs needs none). */
  readonly queueUrl: () => string;
}

/**
 * A step handler that reads packs (several records to an SQS message) as well as single messages. The handler
 * sees one record per packed message, with the id `<messageId>#<n>`. When some records of a pack fail, they go
 * back to the queue one per message and the pack is acknowledged: each failed record is then retried, and
 * dead-lettered, on its own, and its pack-mates are not processed again. Should that send fail, the whole pack
 * fails and SQS retries it (its processed mates merge as repeats).
 */
export function readingPacks(handler: SqsHandler, repack: Repacking): SqsHandler {
  return async (event) => {
    const items: { record: SQSRecord; parent: string; packed: boolean }[] = [];
    for (const r of event.Records) {
      const bodies = unpackBody(r.body);
      if (!bodies) items.push({ record: r, parent: r.messageId, packed: false });
      else bodies.forEach((body, n) => items.push({ record: { ...r, messageId: `${r.messageId}#${n}`, body }, parent: r.messageId, packed: true }));
    }
    if (!items.some((i) => i.packed)) return handler(event);

    const response = await handler({ Records: items.map((i) => i.record) });
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const failures = new Set<string>();
    const split: typeof items = [];
    for (const item of items) {
      if (!failed.has(item.record.messageId)) continue;
      if (item.packed) split.push(item);
      else failures.add(item.parent);
    }
    if (split.length > 0) {
      const sent = await Promise.resolve()
        .then(() => repack.publisher.send(repack.queueUrl(), split.map((i) => ({ id: i.record.messageId, body: i.record.body })), { single: true }))
        .catch(() => ({ failed: split.map((i) => i.record.messageId) }));
      const unsent = new Set(sent.failed);
      for (const i of split) if (unsent.has(i.record.messageId)) failures.add(i.parent);
    }
    return { batchItemFailures: [...failures].map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

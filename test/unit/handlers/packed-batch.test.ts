import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { packBody } from '../../../functions/core/packing';
import { readingPacks, type SqsHandler } from '../../../functions/handlers/packed-batch';
import { FakePublisher, sqsEvent } from '../../fixtures/fakes';

const QUEUE = 'https://sqs.local/000000000000/orders-resolve';
/** A handler that fails the records whose body is "bad", and notes what it saw. */
function failingBad(seen: string[][]): SqsHandler {
  return async (event: SQSEvent) => {
    seen.push(event.Records.map((r) => `${r.messageId}=${r.body}`));
    return { batchItemFailures: event.Records.filter((r) => r.body.includes('bad')).map((r) => ({ itemIdentifier: r.messageId })) };
  };
}

describe('readingPacks', () => {
  it('hands each packed record to the handler on its own, and sends a failed one back alone while its pack-mates are done', async () => {
    // Prepare
    const seen: string[][] = [];
    const publisher = new FakePublisher();
    const handler = readingPacks(failingBad(seen), { publisher, queueUrl: () => QUEUE });

    // Act
    const res = await handler(sqsEvent([packBody(['"a"', '"bad"', '"c"']), '"d"']));

    // Assess
    expect(seen).toEqual([['m0#0="a"', 'm0#1="bad"', 'm0#2="c"', 'm1="d"']]);
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.sent.get(QUEUE)).toEqual([{ id: 'm0#1', body: '"bad"' }]);
  });

  it('fails the pack when its failed records cannot be sent back, and a single message as usual', async () => {
    // Prepare
    const publisher = new FakePublisher();
    publisher.failIds.add('m0#0');
    const handler = readingPacks(failingBad([]), { publisher, queueUrl: () => QUEUE });

    // Act
    const res = await handler(sqsEvent([packBody(['"bad"', '"ok"']), '"bad too"']));

    // Assess
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m0', 'm1']);
  });

  it('holds back a failed record the API asked to wait for: a single message by its visibility, a packed one by a delayed send', async () => {
    // Prepare: the handler fails every record, and holds m0#1 and m1 a minute (a 429 with Retry-After: 60).
    const publisher = new FakePublisher();
    const now = 1_000_000;
    const handler = readingPacks(
      async (event) => ({ batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })), heldUntil: { 'm0#1': now + 60_000, m1: now + 60_000 } }),
      { publisher, queueUrl: () => QUEUE, now: () => now },
    );

    // Act
    const res = await handler(sqsEvent([packBody(['"a"', '"b"']), '"c"', '"d"']));

    // Assess: Lambda sees only batchItemFailures; m1's receipt handle is held 60 s, m2 is left to the queue.
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }] });
    expect(publisher.holds).toEqual([{ queueUrl: QUEUE, receiptHandles: ['rh-1'], seconds: 60 }]);
    expect(publisher.sent.get(QUEUE)).toEqual([
      { id: 'm0#0', body: '"a"' },
      { id: 'm0#1', body: '"b"' },
    ]);
    expect(publisher.delays.get('m0#1')).toBe(60);
    expect(publisher.delays.has('m0#0')).toBe(false);
  });

  it('leaves a held message to the queue when the hold fails, still failed', async () => {
    // Prepare
    const publisher = new FakePublisher();
    publisher.failHolds = true;
    const handler = readingPacks(async () => ({ batchItemFailures: [{ itemIdentifier: 'm0' }], heldUntil: { m0: Date.now() + 60_000 } }), { publisher, queueUrl: () => QUEUE });
    const unknownQueue = readingPacks(async () => ({ batchItemFailures: [{ itemIdentifier: 'm0' }], heldUntil: { m0: Date.now() + 60_000 } }), {
      publisher: new FakePublisher(),
      queueUrl: () => {
        throw new Error('environment variable DELIVER_QUEUE_URLS is not set');
      },
    });

    // Act
    const res = await handler(sqsEvent(['"a"', '"b"']));
    const without = await unknownQueue(sqsEvent(['"a"', '"b"']));

    // Assess: m1 succeeded in both; a hold that cannot be made fails no other message.
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
    expect(without).toEqual({ batchItemFailures: [{ itemIdentifier: 'm0' }] });
  });

  it('leaves a batch without packs to the handler as it came', async () => {
    // Prepare
    const seen: string[][] = [];
    const publisher = new FakePublisher();
    const event = sqsEvent(['"bad"', '"ok"']);

    // Act
    const res = await readingPacks(failingBad(seen), { publisher, queueUrl: () => QUEUE })(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(publisher.calls).toBe(0);
  });
});

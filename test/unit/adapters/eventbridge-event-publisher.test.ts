import { describe, expect, it } from 'vitest';
import { EventBridgeEventPublisher } from '../../../functions/adapters/eventbridge-event-publisher';
import type { EventEntry, PutEventsOutcome } from '../../../functions/adapters/eventbridge-put-events';
import { conflictOpenedEvent } from '../../../functions/handlers/conflict-review';

const noSleep = { sleep: async () => undefined };

describe('EventBridgeEventPublisher', () => {
  it('puts events in calls of 10 on the bus, retrying a throttled entry', async () => {
    // Prepare
    const calls: EventEntry[][] = [];
    let throttled = false;
    const putter = {
      putEvents: async (entries: readonly EventEntry[]): Promise<PutEventsOutcome> => {
        calls.push([...entries]);
        if (!throttled) {
          throttled = true;
          return { FailedEntryCount: 1, Entries: entries.map((_, i) => (i === 0 ? { ErrorCode: 'ThrottlingException' } : { EventId: `e${i}` })) };
        }
        return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `e${i}` })) };
      },
    };
    const publisher = new EventBridgeEventPublisher({ putter, busName: 'default', retry: noSleep });

    // Act
    await publisher.put(Array.from({ length: 12 }, (_, i) => ({ source: 'syncline', detailType: 'syncline.ConflictOpened', detail: { n: i } })));

    // Assess
    expect(calls.map((c) => c.length).sort((a, b) => a - b)).toEqual([1, 2, 10]);
    expect(calls[0]![0]).toEqual({ Source: 'syncline', DetailType: 'syncline.ConflictOpened', Detail: '{"n":0}', EventBusName: 'default' });
  });

  it('throws when an entry is rejected', async () => {
    const putter = { putEvents: async (): Promise<PutEventsOutcome> => ({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'MalformedDetail', ErrorMessage: 'bad' }] }) };
    await expect(new EventBridgeEventPublisher({ putter, retry: noSleep }).put([{ source: 's', detailType: 'd', detail: {} }])).rejects.toThrow(/MalformedDetail/);
  });

  it('keeps each PutEvents call within 256 KB of entries, which PutEvents refuses whole past that', async () => {
    // Prepare: six events of 60 KB each (a call of ten would be 360 KB).
    const calls: EventEntry[][] = [];
    const putter = {
      putEvents: async (entries: readonly EventEntry[]): Promise<PutEventsOutcome> => {
        calls.push([...entries]);
        const bytes = entries.reduce((n, e) => n + Buffer.byteLength(e.Source) + Buffer.byteLength(e.DetailType) + Buffer.byteLength(e.Detail), 0);
        if (bytes > 256 * 1024) throw Object.assign(new Error('Total size of the entries in the request is over the limit'), { name: 'ValidationException' });
        return { FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: `e${i}` })) };
      },
    };
    const publisher = new EventBridgeEventPublisher({ putter, retry: noSleep });

    // Act
    await publisher.put(Array.from({ length: 6 }, (_, i) => ({ source: 'syncline', detailType: 'syncline.ConflictOpened', detail: { n: i, v: 'x'.repeat(60_000) } })));

    // Assess
    expect(calls.map((c) => c.length)).toEqual([4, 2]);
  });

  it('announces a conflict with large values without them, saying so, within what one entry may hold', () => {
    // Prepare
    const side = (source: string, value: unknown) => ({ source, value, clock: { ts: 1, src: source, seq: '1', id: `e-${source}` } });
    const small = { id: 'c1', flow: 'docs', key: 'k', field: 'body', current: side('crm', 'a'), incoming: side('erp', 'b') };
    const large = { ...small, current: side('crm', 'a'.repeat(200_000)), incoming: side('erp', 'b'.repeat(200_000)) };

    // Act
    const [withValues, without] = [conflictOpenedEvent(small, 5), conflictOpenedEvent(large, 5)];

    // Assess
    expect(withValues.detail).toMatchObject({ current: { value: 'a' }, incoming: { value: 'b' } });
    expect(without.detail).toMatchObject({ conflictId: 'c1', key: 'k', field: 'body', current: { source: 'crm' }, incoming: { source: 'erp' }, omitted: expect.stringContaining('values left out') });
    expect((without.detail as { current: object }).current).not.toHaveProperty('value');
    expect(Buffer.byteLength(JSON.stringify(without.detail))).toBeLessThan(64 * 1024);
  });
});

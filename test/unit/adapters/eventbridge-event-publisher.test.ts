import { describe, expect, it } from 'vitest';
import { EventBridgeEventPublisher } from '../../../functions/adapters/eventbridge-event-publisher';
import type { EventEntry, PutEventsOutcome } from '../../../functions/adapters/eventbridge-target-writer';

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
});

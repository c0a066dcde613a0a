import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { EventPutter } from './eventbridge-put-events';

/** PutEvents through the SDK client; apart from the writer, whose module then needs nothing of the SDK at load. */
export function sdkEventPutter(client: Pick<EventBridgeClient, 'send'>): EventPutter {
  return {
    putEvents: (entries) => client.send(new PutEventsCommand({ Entries: entries as PutEventsRequestEntry[] })),
  };
}

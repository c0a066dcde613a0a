/** One PutEvents entry, as the target writer and the event publisher build it. */
export interface EventEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName?: string;
  readonly Time?: Date;
}

/** What PutEvents answers: how many entries failed and, in request order, each entry's id or error. */
export interface PutEventsOutcome {
  readonly FailedEntryCount?: number;
  readonly Entries?: readonly { readonly EventId?: string; readonly ErrorCode?: string; readonly ErrorMessage?: string }[];
}

/** What the target writer and the event publisher need of a bus: PutEvents (the SDK client in AWS, the local bus in `npm start`). */
export interface EventPutter {
  putEvents(entries: readonly EventEntry[]): Promise<PutEventsOutcome>;
}

/** PutEvents limits: 10 entries and 256 KB of entries per call. */
export const MAX_EVENTS_PER_CALL = 10;
export const MAX_EVENT_BYTES = 256 * 1024;
/** An entry's size as PutEvents counts it (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html). */
export function entryBytes(e: EventEntry): number {
  return (e.Time ? 14 : 0) + Buffer.byteLength(e.Source) + Buffer.byteLength(e.DetailType) + Buffer.byteLength(e.Detail);
}

/** Items in PutEvents calls: at most 10 entries and 256 KB of entries a call (a larger call is refused whole). */
export function putEventsCalls<T>(items: readonly T[], entryOf: (item: T) => EventEntry): T[][] {
  const calls: T[][] = [];
  let bytes = 0;
  for (const item of items) {
    const size = entryBytes(entryOf(item));
    const last = calls.at(-1);
    if (last && last.length < MAX_EVENTS_PER_CALL && bytes + size <= MAX_EVENT_BYTES) {
      last.push(item);
      bytes += size;
    } else {
      calls.push([item]);
      bytes = size;
    }
  }
  return calls;
}

/** PutEvents entry error codes worth another attempt; any other code is a permanent rejection of that entry. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(['InternalFailure', 'InternalException', 'ThrottlingException', 'ServiceUnavailable']);

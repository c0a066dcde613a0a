import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { matchesPattern } from '../../functions/core/event-pattern';
import { SynclineError } from '../../functions/core/errors';
import { isJsonObject, jsonDepth, MAX_BODY_DEPTH, parseJsonExact, stringifyExact } from '../../functions/core/json-safety';

/** One entry of a PutEvents call (the fields the local bus reads; `Resources` is optional as in the API). */
export interface PutEventsEntry {
  readonly Source: string;
  readonly DetailType: string;
  /** The event's detail as a JSON object text. */
  readonly Detail: string;
  /** Bus name or ARN. @default 'default' */
  readonly EventBusName?: string;
  readonly Time?: Date;
  readonly Resources?: readonly string[];
}

export interface PutEventsResult {
  readonly FailedEntryCount: number;
  /** One per entry, in order: `EventId` when accepted, else `ErrorCode` and `ErrorMessage`. */
  readonly Entries: { EventId?: string; ErrorCode?: string; ErrorMessage?: string }[];
}

/** An event as EventBridge delivers it to rule targets. */
export interface EventBridgeEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  /** ISO-8601, seconds precision, as EventBridge writes it. */
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: unknown;
}

/** An event put on a local bus, with where the rules sent it. */
export interface LocalEvent {
  readonly busName: string;
  readonly event: EventBridgeEvent;
  /** Names of the inbound queues whose rule matched (`<flow>-inbound-<source>`). */
  readonly routedTo: readonly string[];
}

/** A rule: events of `busName` matching `pattern` go to a queue (as the stack's EventBridge rules do). */
export interface LocalEventRule {
  readonly busName: string;
  readonly pattern: Readonly<Record<string, unknown>>;
  readonly queueName: string;
  readonly queueUrl: string;
}

export interface LocalEventBusOptions {
  readonly sqs: SQSClient;
  readonly rules: readonly LocalEventRule[];
  readonly region: string;
  readonly account?: string;
  /** Events kept for `list()`; older ones are dropped. @default 1000 */
  readonly keep?: number;
}

/** PutEvents takes at most this many entries per call. */
export const MAX_PUT_EVENTS_ENTRIES = 10;
/** Largest entry PutEvents accepts (Source, DetailType, Detail, Resources, in UTF-8). */
export const MAX_ENTRY_BYTES = 256 * 1024;

/** `arn:aws:events:<region>:<account>:event-bus/<name>` or a plain name -> the name; absent -> `default`. */
export function busNameOf(nameOrArn: string | undefined): string {
  if (!nameOrArn) return 'default';
  const m = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(nameOrArn);
  return m ? m[1]! : nameOrArn;
}

/** A request error of the whole call (what the API answers as ValidationException). */
export class PutEventsValidationError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationException';
  }
}

/**
 * The local stand-in for EventBridge buses: PutEvents records every accepted event (newest last) and routes it,
 * as the full event document, to the inbound queue of every rule on its bus whose pattern matches.
 */
export class LocalEventBus {
  private readonly events: LocalEvent[] = [];
  private readonly account: string;
  private readonly keep: number;

  constructor(private readonly options: LocalEventBusOptions) {
    this.account = options.account ?? '000000000000';
    this.keep = options.keep ?? 1000;
  }

  async putEvents(entries: readonly PutEventsEntry[]): Promise<PutEventsResult> {
    if (!Array.isArray(entries) || entries.length === 0) throw new PutEventsValidationError('Entries must hold at least 1 entry');
    if (entries.length > MAX_PUT_EVENTS_ENTRIES) throw new PutEventsValidationError(`Entries holds ${entries.length} entries; PutEvents takes at most ${MAX_PUT_EVENTS_ENTRIES}`);
    // Accepted events are recorded in entry order before any is routed, so `list` keeps the call's order.
    const results = await Promise.all(entries.map((e) => this.putOne(e)));
    return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
  }

  /** Events put on `busName` (every bus when absent), oldest first, newest last. */
  list(busName?: string): LocalEvent[] {
    const name = busName === undefined ? undefined : busNameOf(busName);
    return this.events.filter((e) => name === undefined || e.busName === name);
  }

  private async putOne(entry: PutEventsEntry): Promise<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }> {
    const fail = (ErrorCode: string, ErrorMessage: string) => ({ ErrorCode, ErrorMessage });
    if (!entry || typeof entry !== 'object') return fail('InvalidArgument', 'entry is not an object');
    if (typeof entry.Source !== 'string' || entry.Source === '') return fail('InvalidArgument', 'Parameter Source is not valid. Reason: Source is a required argument.');
    if (typeof entry.DetailType !== 'string' || entry.DetailType === '') return fail('InvalidArgument', 'Parameter DetailType is not valid. Reason: DetailType is a required argument.');
    if (entry.Detail === undefined || entry.Detail === null) return fail('InvalidArgument', 'Parameter Detail is not valid. Reason: Detail is a required argument.');
    // PutEvents takes Detail as a string holding JSON; an object given as it is gets said so.
    if (typeof entry.Detail !== 'string') return fail('InvalidArgument', 'Parameter Detail is not valid. Reason: Detail must be a string holding a JSON object (the object as JSON text).');
    const resources: unknown = entry.Resources ?? [];
    if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string')) return fail('InvalidArgument', 'Parameter Resources is not valid: it must be a list of strings.');
    const size = Buffer.byteLength(entry.Source) + Buffer.byteLength(entry.DetailType) + Buffer.byteLength(entry.Detail) + resources.reduce((n: number, r: string) => n + Buffer.byteLength(r), 0);
    if (size > MAX_ENTRY_BYTES) return fail('InvalidArgument', `entry of ${size} bytes exceeds the limit of ${MAX_ENTRY_BYTES} bytes`);
    // Read exactly, as a webhook body is: a number a double cannot hold reaches the source's capture as it was sent.
    // The event around the Detail is one level more, and a capture reads at most MAX_BODY_DEPTH.
    if (jsonDepth(entry.Detail) > MAX_BODY_DEPTH - 1) return fail('MalformedDetail', `Detail is malformed: it is nested deeper than ${MAX_BODY_DEPTH - 1} levels.`);
    let detail: unknown;
    try {
      detail = parseJsonExact(entry.Detail);
    } catch {
      return fail('MalformedDetail', 'Detail is malformed.');
    }
    if (!isJsonObject(detail)) return fail('MalformedDetail', 'Detail is malformed: it must be a JSON object.');
    const busName = busNameOf(entry.EventBusName);
    const time = entry.Time instanceof Date && Number.isFinite(entry.Time.getTime()) ? entry.Time : new Date();
    const event: EventBridgeEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: this.account,
      time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.options.region,
      resources: [...resources],
      detail,
    };
    const body = stringifyExact(event);
    // Matched and listed as JSON.parse reads it, numbers as doubles (a number beyond a double's range is null
    // there); the queue gets the digits as sent.
    const parsed = JSON.parse(body) as EventBridgeEvent;
    const matched = this.options.rules.filter((r) => r.busName === busName && matchesPattern(r.pattern as Record<string, unknown>, parsed));
    const routedTo: string[] = [];
    this.events.push({ busName, event: parsed, routedTo });
    if (this.events.length > this.keep) this.events.splice(0, this.events.length - this.keep);
    const sent = await Promise.allSettled(matched.map((r) => this.options.sqs.send(new SendMessageCommand({ QueueUrl: r.queueUrl, MessageBody: body }))));
    matched.forEach((r, i) => {
      if (sent[i]!.status === 'fulfilled') routedTo.push(r.queueName);
    });
    const failed = sent.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    // EventBridge retries target delivery on its own; locally a queue that cannot be reached is reported on the entry.
    if (failed) return fail('InternalException', `event ${event.id} could not be sent to a rule's queue: ${(failed.reason as Error)?.message ?? failed.reason}`);
    return { EventId: event.id };
  }
}

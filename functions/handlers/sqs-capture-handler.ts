import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { captureProblem, quarantineOf } from '../core/capture/capture-outcome';
import { arrivalSeq, ENVELOPE_VERSION, eventId, type ChangeEnvelope } from '../core/envelope';
import { isSnsNotification, snsMessageOf } from '../core/capture/sns-notification';
import { type AuditEntry, type QuarantineItem, telemetryOf } from '../ports';
import { auditable } from './audit-policy';
import { runSqsBatch } from './sqs-batch';
import { captureKeys } from '../core/transform/raw-record';
import type { CaptureUseCaseDeps } from './capture-deps';
import type { SourceConfig } from '../config/schema';
import { jsonErrorText } from '../core/error-text';
import { timestampOf } from '../core/webhook/event-record';
import { carryProblems, InexactNumber, isJsonObject as isObject, jsonDepth, MAX_BODY_DEPTH, parseJsonExact } from '../core/json-safety';

/**
 * How message bodies are read: `sqs`, a record or a JSON array of records; `eventbridge`, an EventBridge
 * event whose `detail` is the record, `time` the ts and `id` the event id.
 */
export type InboundFormat = 'sqs' | 'eventbridge';

/** Dependencies of the capture function of one `sqs` or `eventbridge` source (both read the source's inbound queue). */
export interface SqsCaptureDeps extends CaptureUseCaseDeps {
  /**
   * How message bodies are read.
   * @default - `eventbridge` for an eventbridge source, `sqs` otherwise
   */
  readonly format?: InboundFormat;
}

export type SqsCaptureHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** Records per message body. */
export const MAX_RECORDS_PER_MESSAGE = 500;

interface Outcome {
  readonly messageId: string;
  readonly send?: ChangeEnvelope;
  readonly quarantine?: QuarantineItem;
  readonly audit: AuditEntry;
}

/**
 * Inbound messages to envelopes on the transform queue, with partial batch responses: a message whose
 * envelopes could not be sent is retried (then goes to the inbound DLQ); a body that cannot be read is
 * quarantined with its message id as position and is not retried.
 */
export function createSqsCaptureHandler(deps: SqsCaptureDeps): SqsCaptureHandler {
  const { flow, publisher, audit, quarantine } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const source = flow.sources.find((s): s is Extract<SourceConfig, { type: 'sqs' | 'eventbridge' }> => s.id === deps.sourceId && (s.type === 'sqs' || s.type === 'eventbridge'));
  if (!source) throw new Error(`flow "${flow.id}" has no sqs or eventbridge source "${deps.sourceId}"`);
  const format: InboundFormat = deps.format ?? (source.type === 'eventbridge' ? 'eventbridge' : 'sqs');
  const keys = captureKeys(flow);

  return (event) =>
    runSqsBatch(event.Records, logger, async (batch) => {
      const now = clock.now();
      // One message that cannot be read in some way no check foresaw fails alone, not its batch-mates.
      const outcomes = event.Records.flatMap((record) => {
        try {
          return capture(record, now);
        } catch (err) {
          batch.fail([record.messageId], 'capture of the message failed', err);
          return [];
        }
      });
      const toSend = outcomes.filter((o) => o.send);
      if (toSend.length > 0) {
        const messageIdOf = new Map(toSend.map((o) => [o.send!.id, o.messageId]));
        const sent = await batch.attempt(new Set(toSend.map((o) => o.messageId)), 'send to the transform queue failed', () =>
          publisher.send(deps.transformQueueUrl, toSend.map((o) => ({ id: o.send!.id, body: JSON.stringify(o.send) }))),
        );
        if (sent) batch.fail(sent.failed.map((id) => messageIdOf.get(id)!), 'send to the transform queue failed after retries');
      }
      const toQuarantine = outcomes.filter((o) => o.quarantine && !batch.isFailed(o.messageId));
      if (toQuarantine.length > 0) {
        await batch.attempt(new Set(toQuarantine.map((o) => o.messageId)), 'quarantine write failed', () =>
          quarantine.put(toQuarantine.map((o) => o.quarantine!)),
        );
      }
      const audited = outcomes.filter((o) => !batch.isFailed(o.messageId));
      const entries = auditable(flow, audited.map((o) => o.audit));
      if (entries.length > 0) {
        await batch.attempt(new Set(audited.map((o) => o.messageId)), 'audit write failed', () => audit.write(entries));
      }
      const settled = outcomes.filter((o) => !batch.isFailed(o.messageId));
      const captured = settled.filter((o) => o.send).length;
      const quarantined = settled.filter((o) => o.quarantine).length;
      metrics.count('Captured', captured);
      metrics.count('Quarantined', quarantined);
      logger.info('inbound messages captured', { flow: flow.id, source: source.id, messages: event.Records.length, captured, quarantined });
    });

  function capture(record: SQSRecord, now: number): Outcome[] {
    const messageId = record.messageId;
    const sent = Number(record.attributes?.SentTimestamp);
    const sentAt = Number.isFinite(sent) && sent > 0 ? sent : now;
    const lineageOk = [{ step: 'capture' as const, at: now, outcome: 'captured' }];
    const quarantined = (id: string, seq: string, reason: string, position: string, data: Record<string, unknown>, unstorable?: readonly string[]): Outcome => {
      const { item, entry } = quarantineOf(flow, { id, source: source!.id, at: now, reason, unstorable, record: data, seq, position });
      return { messageId, quarantine: item, audit: entry };
    };
    const accepted = (id: string, seq: string, defaultTs: number, data: Record<string, unknown>, position: string): Outcome => {
      const ts = timestampOf(source!, data, data, defaultTs);
      if (typeof ts === 'string') return quarantined(id, seq, ts, position, data);
      const key = keys.keyOf(data);
      const envelope: ChangeEnvelope = { v: ENVELOPE_VERSION, id, flow: flow.id, source: source!.id, key: '', op: 'upsert', data, ts, seq, lineage: lineageOk };
      const unstorable = carryProblems(data);
      const problem = captureProblem(flow, { unstorable, sized: envelope, op: 'upsert' });
      if (problem !== undefined) return quarantined(id, seq, problem, position, data, unstorable);
      return { messageId, send: envelope, audit: { flow: flow.id, key, step: 'capture', at: now, source: source!.id, eventId: id, outcome: 'captured', detail: { op: 'upsert' } } };
    };

    const depth = jsonDepth(record.body);
    if (depth > MAX_BODY_DEPTH) return [quarantined(eventId(flow.id, source!.id, messageId), messageId, `body nests ${depth} levels deep; the limit is ${MAX_BODY_DEPTH}`, messageId, {})];
    let body: unknown;
    try {
      // Numbers a double cannot hold stay exact until the record's fate is decided.
      body = parseJsonExact(record.body);
    } catch (err) {
      // The raw body may hold unmasked data, so it is not kept; the reason and the message id say where to look.
      return [quarantined(eventId(flow.id, source!.id, messageId), messageId, `body is not valid JSON: ${jsonErrorText(err)}`, messageId, {})];
    }

    if (format === 'eventbridge') {
      const ev = isObject(body) ? body : undefined;
      const evId = ev && typeof ev.id === 'string' && ev.id !== '' ? ev.id : messageId;
      const id = eventId(flow.id, source!.id, evId);
      if (!ev) return [quarantined(id, evId, `body is ${kindOf(body)}, not an EventBridge event`, messageId, {})];
      if (!isObject(ev.detail)) return [quarantined(id, evId, `event detail is ${kindOf(ev.detail)}, not an object`, messageId, {})];
      const time = typeof ev.time === 'string' ? Date.parse(ev.time) : Number.NaN;
      // EventBridge may deliver one event twice, as two messages: its own time (whole seconds) and id order it, not their sending.
      const at = Number.isFinite(time) ? time : sentAt;
      return [accepted(id, arrivalSeq('upsert', at, evId), at, ev.detail, messageId)];
    }

    // An SNS notification's records are its Message, known by its MessageId and Timestamp, which a second delivery of
    // the notification repeats.
    let origin = { id: messageId, at: sentAt };
    if (isSnsNotification(body)) {
      // SNS publishes before the queue receives: a later (or unreadable) Timestamp is not SNS's, and the send time serves.
      const notified = Date.parse(body.Timestamp);
      origin = { id: body.MessageId, at: Number.isFinite(notified) && notified >= 0 && notified <= sentAt ? notified : sentAt };
      const message = snsMessageOf(body);
      if ('error' in message) return [quarantined(eventId(flow.id, source!.id, origin.id), origin.id, message.error, messageId, {})];
      body = message.body;
    }

    const items = Array.isArray(body) ? body : [body];
    if (!Array.isArray(body) && !isObject(body)) {
      return [quarantined(eventId(flow.id, source!.id, origin.id), origin.id, `body is ${kindOf(body)}, not a record or an array of records`, messageId, {})];
    }
    if (items.length > MAX_RECORDS_PER_MESSAGE) {
      return [quarantined(eventId(flow.id, source!.id, origin.id), origin.id, `an array body holds at most ${MAX_RECORDS_PER_MESSAGE} records, got ${items.length}`, messageId, {})];
    }
    return items.map((item, index) => {
      const id = eventId(flow.id, source!.id, origin.id, index);
      const position = `${origin.id}#${String(index).padStart(3, '0')}`;
      const seq = arrivalSeq('upsert', origin.at, position);
      if (!isObject(item)) return quarantined(id, seq, `body[${index}] is ${kindOf(item)}, not an object`, position, {});
      return accepted(id, seq, origin.at, item, position);
    });
  }
}

const kindOf = (v: unknown): string => (v === null ? 'null' : v === undefined ? 'missing' : Array.isArray(v) ? 'an array' : v instanceof InexactNumber ? 'a number' : `a ${typeof v}`);

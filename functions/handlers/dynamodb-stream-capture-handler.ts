import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { mapStreamRecord, type DynamoDbStreamSource, type StreamMappingOptions, type StreamRecord } from '../core/capture/dynamodb-stream';
import { captureProblem, quarantineOf } from '../core/capture/capture-outcome';
import type { ChangeEnvelope } from '../core/envelope';
import { type AuditEntry, type QuarantineItem, telemetryOf } from '../ports';
import { auditable } from './audit-policy';
import { carryProblems, settleDeleteNumbers } from '../core/json-safety';
import { captureKeys } from '../core/transform/raw-record';
import { safeErrorText } from '../core/error-text';
import type { CaptureUseCaseDeps } from './capture-deps';

/** Dependencies of the capture function of one `dynamodb-stream` source; `unmarshall` reads its images (an SDK adapter). */
export type DynamoDbStreamCaptureDeps = CaptureUseCaseDeps & Pick<StreamMappingOptions, 'unmarshall'>;

export type DynamoDbStreamCaptureHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;


interface Slot {
  readonly index: number;
  readonly envelope?: ChangeEnvelope;
  readonly quarantine?: QuarantineItem;
  readonly audit?: AuditEntry;
}

/**
 * Stream records to envelopes on the transform queue. A record that cannot be captured (no image, an
 * unmarshalling error, missing key fields) is quarantined with its sequence number and does not fail the
 * batch. When sending or storing fails, the answer names the first record not done, and Lambda retries from
 * there (records after it may be sent twice, which merges absorb). The source `filter` is applied here as
 * well as in the mapping's filter criteria, so a runtime without pushdown behaves the same.
 */
export function createDynamoDbStreamCaptureHandler(deps: DynamoDbStreamCaptureDeps): DynamoDbStreamCaptureHandler {
  const { flow, publisher, audit, quarantine, unmarshall } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const source = flow.sources.find((s): s is DynamoDbStreamSource => s.id === deps.sourceId && s.type === 'dynamodb-stream');
  if (!source) throw new Error(`flow "${flow.id}" has no dynamodb-stream source "${deps.sourceId}"`);
  const keys = captureKeys(flow);

  return async (event) => {
    const records: readonly DynamoDBRecord[] = event.Records ?? [];
    const now = clock.now();
    const slots: Slot[] = [];
    let filtered = 0;
    records.forEach((record, index) => {
      const outcome = mapStreamRecord(record as StreamRecord, { flow, source, now, unmarshall });
      const base = { flow: flow.id, step: 'capture' as const, at: now, source: source.id };
      if (outcome.kind === 'skipped') {
        filtered++;
        return;
      }
      let problem: { id: string; seq: string; op: 'upsert' | 'delete'; reason: string; record: Record<string, unknown>; unstorable?: readonly string[] };
      let key = '';
      if (outcome.kind === 'invalid') {
        problem = outcome;
      } else {
        // An upsert with a number a JSON number cannot hold is refused; a delete needs only its key and is never refused
        // for one (settleDeleteNumbers). The old image only tells which fields changed: one holding such a number is left out.
        const read = outcome.envelope;
        const unstorable = read.op === 'upsert' ? carryProblems(read.data ?? {}) : [];
        const { before: oldImage, ...rest } = read;
        const env: ChangeEnvelope = {
          ...rest,
          ...(read.op === 'delete' && read.data ? { data: settleDeleteNumbers(read.data, keys.paths) } : {}),
          ...(oldImage && carryProblems(oldImage).length === 0 ? { before: oldImage } : {}),
        };
        const data = env.data ?? {};
        key = keys.keyOf(data);
        const reason = captureProblem(flow, { unstorable, key, sized: env, op: env.op });
        if (reason === undefined) {
          const detail = { op: env.op, ...(outcome.ttlExpiry ? { ttlExpiry: true } : {}), ...(env.origin ? { echoOf: env.origin.flow } : {}) };
          slots.push({ index, envelope: env, audit: { ...base, key, eventId: env.id, outcome: 'captured', detail } });
          return;
        }
        problem = { ...env, reason, record: data, unstorable };
      }
      const { id, seq, op, reason, record: image, unstorable } = problem;
      // The envelope keeps the key as captured ('' when the transform makes it); the audit entry the raw key.
      const { item, entry } = quarantineOf(flow, { id, source: source.id, at: now, reason, unstorable, record: image, op, seq, position: seq, key });
      slots.push({ index, quarantine: item, audit: entry });
    });

    // Index of the first record not fully handled; Lambda retries the batch from it.
    let failAt = Number.POSITIVE_INFINITY;
    const failFrom = (index: number, why: string, err?: unknown) => {
      if (index < failAt) failAt = index;
      logger.warn(why, { flow: flow.id, source: source.id, sequenceNumber: records[index]?.dynamodb?.SequenceNumber, error: safeErrorText(err) });
    };

    const toSend = slots.filter((s) => s.envelope);
    if (toSend.length > 0) {
      try {
        const { failed } = await publisher.send(
          deps.transformQueueUrl,
          toSend.map((s) => ({ id: s.envelope!.id, body: JSON.stringify(s.envelope) })),
        );
        const failedIds = new Set(failed);
        const first = toSend.find((s) => failedIds.has(s.envelope!.id));
        if (first) failFrom(first.index, 'send to the transform queue failed after retries');
      } catch (err) {
        failFrom(toSend[0]!.index, 'send to the transform queue failed', err);
      }
    }
    const toQuarantine = slots.filter((s) => s.quarantine && s.index < failAt);
    if (toQuarantine.length > 0) {
      try {
        await quarantine.put(toQuarantine.map((s) => s.quarantine!));
      } catch (err) {
        failFrom(toQuarantine[0]!.index, 'quarantine write failed', err);
      }
    }
    const done = slots.filter((s) => s.index < failAt);
    const entries = auditable(flow, done.map((s) => s.audit!));
    if (entries.length > 0) {
      try {
        await audit.write(entries);
      } catch (err) {
        failFrom(done[0]!.index, 'audit write failed', err);
      }
    }

    const captured = done.filter((s) => s.envelope && s.index < failAt).length;
    const quarantined = done.filter((s) => s.quarantine && s.index < failAt).length;
    metrics.count('Captured', captured);
    metrics.count('Quarantined', quarantined);
    metrics.count('Filtered', filtered);
    logger.info('stream batch captured', { flow: flow.id, source: source.id, records: records.length, captured, quarantined, filtered });
    if (failAt === Number.POSITIVE_INFINITY) return { batchItemFailures: [] };
    const itemIdentifier = records[failAt]?.dynamodb?.SequenceNumber;
    // Without a sequence number to resume from, only a failed invocation makes Lambda retry the batch.
    if (!itemIdentifier) throw new Error(`stream record ${failAt} failed and has no SequenceNumber`);
    return { batchItemFailures: [{ itemIdentifier }] };
  };
}

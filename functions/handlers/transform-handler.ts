import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { FlowConfig } from '../config/schema';
import { canonicalJson, ENVELOPE_VERSION, eventId, withStep, type ChangeEnvelope, type TruncateMessage } from '../core/envelope';
import type { Transformer } from '../core/transform/pipeline';
import {
  type AuditEntry,
  type AuditLog,
  type Clock,
  type LogPort,
  type MetricsPort,
  type Publisher,
  type QuarantineItem,
  type QuarantineSink,
  telemetryOf,
} from '../ports';
import { auditableOwned, withCapture } from './audit-policy';
import { isTruncate, parseStepMessage } from './step-messages';
import { runSqsBatch } from './sqs-batch';
import { auditGivenUp } from './given-up';
import { keptAfterTransform } from '../core/transform/kept-fields';
import { captureKeys, maskForQuarantine } from '../core/transform/raw-record';
import { isPlainObject } from '../core/shape';

/** Dependencies of a flow's transform function. */
export interface TransformHandlerDeps {
  readonly flow: FlowConfig;
  /** The compiled transform, or a function that compiles it once (e.g. after reading the hash key). */
  readonly transformer: Transformer | (() => Promise<Transformer>);
  readonly publisher: Publisher;
  readonly resolveQueueUrl: string;
  readonly audit: AuditLog;
  readonly quarantine: QuarantineSink;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

export type TransformHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

interface Outcome {
  readonly messageId: string;
  /** What goes on to resolve: the transformed change, or a truncate as it came. */
  readonly send?: ChangeEnvelope | TruncateMessage;
  readonly audit?: AuditEntry;
  /** Fields that look like PII but are not masked (`detectPii: "flag"`). */
  readonly piiFlagged?: readonly string[];
  /** The capture entry, written here when capture could not know the key (the transform derives it). */
  readonly captured?: AuditEntry;
  readonly quarantine?: QuarantineItem;
}

export function createTransformHandler(deps: TransformHandlerDeps): TransformHandler {
  const { flow, publisher, audit, quarantine } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const keyIsRaw = captureKeys(flow).readsKey;
  const getTransformer = typeof deps.transformer === 'function' ? deps.transformer : async () => deps.transformer as Transformer;

  return (event) =>
    runSqsBatch(event.Records, logger, async (batch) => {
      const transformer = await getTransformer();
      const outcomes: Outcome[] = [];
      await batch.each(async (record) => {
        outcomes.push(await transformOne(transformer, record));
      }, 'transform failed');
      if (outcomes.length === 1 && outcomes[0]!.send) logger.setCorrelationId?.(outcomes[0]!.send.id);
      const flagged = outcomes.filter((o) => o.piiFlagged);
      // One line per batch, not per record: field names only, never values.
      if (flagged.length > 0) {
        logger.warn('records hold unmasked PII', { flow: flow.id, records: flagged.length, fields: [...new Set(flagged.flatMap((o) => o.piiFlagged!))].sort(), eventIds: flagged.slice(0, 10).map((o) => o.send!.id) });
      }

      // Quarantine and audit first, each item owned by its message, then send: a message whose write was refused
      // fails alone and never reaches resolve, so its batch-mates go on exactly once.
      const toQuarantine = outcomes.filter((o) => o.quarantine);
      if (toQuarantine.length > 0) {
        await batch.attemptItems(toQuarantine.map((o) => o.messageId), 'quarantine write failed', () =>
          quarantine.put(toQuarantine.map((o) => o.quarantine!)),
        );
      }
      const owned = auditableOwned(
        flow,
        outcomes
          .filter((o) => !batch.isFailed(o.messageId))
          .flatMap((o) => [o.captured, o.audit].filter((e): e is AuditEntry => e !== undefined).map((entry) => ({ entry, owner: o.messageId }))),
      );
      if (owned.length > 0) {
        await batch.attemptItems(owned.map((e) => e.owner), 'audit write failed', () => audit.write(owned.map((e) => e.entry)));
      }
      const toSend = outcomes.filter((o) => o.send && !batch.isFailed(o.messageId));
      if (toSend.length > 0) {
        const sent = await batch.attempt(toSend.map((o) => o.messageId), 'send to the resolve queue failed', () =>
          publisher.send(
            deps.resolveQueueUrl,
            toSend.map((o) => ({ id: o.messageId, body: JSON.stringify(o.send) })),
          ),
        );
        if (sent) batch.fail(sent.failed, 'send to the resolve queue failed after retries');
      }

      // A record sent on has its transformed envelope; one filtered or quarantined, its decision entry.
      const failedChanges = outcomes.flatMap((o) => {
        const env = o.send && !isTruncate(o.send) ? (o.send as ChangeEnvelope) : undefined;
        const of = env ? { key: env.key, source: env.source, eventId: env.id, env } : o.audit && { key: o.audit.key, source: o.audit.source, eventId: o.audit.eventId };
        return of ? [{ ...of, messageId: o.messageId }] : [];
      });
      await auditGivenUp({ flow, audit, logger }, 'transform', batch, failedChanges, clock.now());

      const settled = outcomes.filter((o) => !batch.isFailed(o.messageId));
      const passed = settled.filter((o) => o.send).length;
      const filtered = settled.filter((o) => o.audit?.outcome === 'filtered').length;
      const quarantinedCount = settled.filter((o) => o.quarantine).length;
      metrics.count('Filtered', filtered);
      metrics.count('Quarantined', quarantinedCount);
      logger.info('transform batch done', { flow: flow.id, messages: event.Records.length, passed, filtered, quarantined: quarantinedCount });
    });

  async function transformOne(transformer: Transformer, record: SQSRecord): Promise<Outcome> {
    const now = clock.now();
    const parsed = parseStepMessage(record.body);
    if (!parsed.ok) {
      // Poison message: quarantined with the reason, never retried. Only its record is kept, masked as capture masks one.
      const id = eventId(flow.id, 'unparseable', record.messageId);
      const reason = 'message is not a valid change envelope';
      const { source, data } = salvaged(flow, record.body);
      logger.warn(reason, { flow: flow.id, messageId: record.messageId, errors: parsed.errors });
      // The item's source stays "unknown": that keeps it from quarantine replay, which could not rebuild its envelope.
      return {
        messageId: record.messageId,
        quarantine: {
          flow: flow.id,
          id,
          source: 'unknown',
          at: now,
          reason,
          errors: source === 'unknown' ? parsed.errors : [...parsed.errors, `sent as from source "${source}"`],
          record: data,
          envelope: { v: ENVELOPE_VERSION, id, flow: flow.id, source: 'unknown', key: '', op: 'upsert', ts: now, seq: record.messageId, lineage: [{ step: 'transform', at: now, outcome: 'quarantined' }] },
          position: `sqs:${record.messageId}`,
        },
        audit: { flow: flow.id, key: '', step: 'transform', at: now, source, eventId: id, outcome: 'quarantined', reason },
      };
    }
    // A truncate holds no record: nothing to map, filter or mask.
    if (isTruncate(parsed.value)) return { messageId: record.messageId, send: parsed.value };
    const env = parsed.value as ChangeEnvelope;
    const result = await transformer.apply(env.data ?? {}, env.op);
    const base = { flow: flow.id, step: 'transform' as const, at: now, source: env.source, eventId: env.id };
    const derivedKey = result.key;
    // Capture wrote its entry only where it could read the key; otherwise the record's lineage starts here.
    const captured: AuditEntry | undefined =
      !keyIsRaw && derivedKey
        ? { ...base, key: derivedKey, step: 'capture', at: env.lineage.find((l) => l.step === 'capture')?.at ?? now, outcome: 'captured', detail: { op: env.op, ...(env.pos !== undefined ? { position: env.pos } : {}) } }
        : undefined;
    const decision = await decideOne(transformer, env, result, base, record, now);
    return captured ? { ...decision, captured } : decision;
  }

  async function decideOne(
    transformer: Transformer,
    env: ChangeEnvelope,
    result: Awaited<ReturnType<Transformer['apply']>>,
    base: Pick<AuditEntry, 'flow' | 'step' | 'at' | 'source' | 'eventId'>,
    record: SQSRecord,
    now: number,
  ): Promise<Outcome> {
    switch (result.status) {
      case 'passed': {
        const { data: _data, before: rawBefore, ...rest } = env;
        // `before` is raw source data: it goes on only transformed the same way, or not at all.
        const before = rawBefore ? await transformer.apply(rawBefore, 'upsert') : undefined;
        const next = withStep(
          {
            ...rest,
            key: result.key,
            ...(env.op === 'delete' ? {} : { data: result.record }),
            ...(before?.status === 'passed' ? { before: before.record } : {}),
            ...(env.keep ? { keep: keptAfterTransform(flow.transform, env.keep) } : {}),
          },
          'transform',
          'passed',
          now,
        );
        if (!result.piiFlagged?.length) return { messageId: record.messageId, send: next };
        // Field names only, never values: resolve's audit entry carries them, and `syncline status` lists those the flow does not declare.
        return { messageId: record.messageId, send: { ...next, piiFlagged: result.piiFlagged }, piiFlagged: result.piiFlagged };
      }
      case 'filtered':
        return {
          messageId: record.messageId,
          audit: withCapture(flow, { ...base, key: result.key ?? '', outcome: 'filtered', reason: `did not match filter ${canonicalJson(result.pattern)}` }, env),
        };
      case 'quarantined': {
        const { data: _data, before: _before, ...envelope } = env;
        return {
          messageId: record.messageId,
          quarantine: {
            flow: flow.id,
            id: env.id,
            source: env.source,
            at: now,
            reason: result.reason,
            errors: result.errors,
            record: result.original,
            envelope: { ...envelope, key: result.key ?? env.key, lineage: [...env.lineage, { step: 'transform', at: now, outcome: 'quarantined' }] },
            position: env.seq,
          },
          audit: withCapture(flow, { ...base, key: result.key ?? '', outcome: 'quarantined', reason: result.reason, detail: { errors: result.errors } }, env),
        };
      }
    }
  }
}

/** What a message that is no valid envelope still says: its `data` (masked for quarantine) and a source of the flow. */
function salvaged(flow: FlowConfig, body: string): { source: string; data: Record<string, unknown> } {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return { source: 'unknown', data: {} };
  }
  const { source, data } = isPlainObject(message) ? message : {};
  return {
    source: typeof source === 'string' && flow.sources.some((s) => s.id === source) ? source : 'unknown',
    data: isPlainObject(data) ? maskForQuarantine(flow, data) : {},
  };
}

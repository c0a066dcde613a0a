import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { claimOf } from '../core/claim-check';
import { errorNameOf, safeErrorText } from '../core/error-text';
import { noopLogger, type LogPort, type PayloadStore } from '../ports';

/**
 * How long a payload that is gone can only have been consumed: the lifecycle rule expires it after 30 days (from the
 * midnight after it was written), and the pointer names the day it was written, so a day less.
 */
const CONSUMED_WITHIN_MS = 29 * 86_400_000;

/**
 * Resolves claim-check pointers (`{"syncline:claim": "<key>"}`, see SqsPublisher) to the bodies they stand for.
 * A pointer that cannot be read fails that message only: it is listed in `failed`, retried by SQS, then goes to
 * the DLQ (where the pointer is kept, so it can be redriven while the claim lives). A payload gone before the
 * lifecycle rule could have expired it was consumed: it is deleted only after its message was handled, so the
 * message is a repeat delivery (its first was handled, its delete lost) and is acknowledged (`consumed`). One gone
 * later may have expired under a message redriven again: that fails, as before. Other records pass unchanged.
 */
export async function resolveClaimChecks(
  records: readonly SQSRecord[],
  payloads: PayloadStore,
  logger: LogPort = noopLogger,
  now = Date.now(),
): Promise<{ records: SQSRecord[]; failed: string[]; consumed: string[] }> {
  const failed: string[] = [];
  const consumed: string[] = [];
  const resolved = await Promise.all(
    records.map(async (record): Promise<SQSRecord | undefined> => {
      const pointer = claimOf(record.body);
      if (pointer === undefined) return record;
      try {
        return { ...record, body: await payloads.get(pointer) };
      } catch (err) {
        if (errorNameOf(err) === 'NoSuchKey' && now - (claimDate(pointer) ?? 0) <= CONSUMED_WITHIN_MS) {
          logger.warn('claim-check payload already consumed: a repeat delivery of a handled message, acknowledged', { messageId: record.messageId, pointer });
          consumed.push(record.messageId);
        } else {
          logger.warn('claim-check payload could not be read', { messageId: record.messageId, pointer, error: safeErrorText(err) });
          failed.push(record.messageId);
        }
        return undefined;
      }
    }),
  );
  return { records: resolved.filter((r): r is SQSRecord => r !== undefined), failed, consumed };
}

/**
 * Wraps the handler of a syncline queue (transform, resolve, deliver) so it sees every message's real body:
 * pointers are resolved first, and a message whose payload cannot be read is reported in `batchItemFailures`
 * without reaching the handler. Not for inbound queues of users: their messages are never claim checks.
 */
export function withClaimChecks<C extends unknown[]>(
  handler: (event: SQSEvent, ...rest: C) => Promise<SQSBatchResponse | void | null | undefined>,
  payloads: PayloadStore,
  logger?: LogPort,
): (event: SQSEvent, ...rest: C) => Promise<SQSBatchResponse> {
  return async (event, ...rest) => {
    const { records, failed } = await resolveClaimChecks(event.Records, payloads, logger);
    const unchanged = records.length === event.Records.length && records.every((r, i) => r === event.Records[i]);
    if (unchanged) return (await handler(event, ...rest)) ?? { batchItemFailures: [] };
    const response = records.length > 0 ? await handler({ ...event, Records: records }, ...rest) : undefined;
    const batchItemFailures = [...failed.map((itemIdentifier) => ({ itemIdentifier })), ...(response?.batchItemFailures ?? [])];
    await deleteConsumedClaims(event.Records, batchItemFailures, payloads, logger);
    return { batchItemFailures };
  };
}

/**
 * Deletes the payloads of the messages that succeeded, so raw values do not outlive their message. A failed
 * message keeps its payload for its retries and the DLQ (the bucket's lifecycle rule expires it). A delete that
 * fails is only logged: the message itself was handled, and the lifecycle rule removes the object later.
 */
async function deleteConsumedClaims(records: readonly SQSRecord[], failures: readonly { itemIdentifier: string }[], payloads: PayloadStore, logger: LogPort = noopLogger): Promise<void> {
  const failed = new Set(failures.map((f) => f.itemIdentifier));
  const ids = new Set(records.map((r) => r.messageId));
  // An identifier outside the batch fails the whole batch (Lambda's rule): nothing was consumed.
  if ([...failed].some((id) => !ids.has(id))) return;
  await Promise.all(
    records.map(async (record) => {
      const pointer = failed.has(record.messageId) ? undefined : claimOf(record.body);
      if (pointer === undefined) return;
      try {
        await payloads.delete(pointer);
      } catch (err) {
        logger.warn('consumed claim-check payload could not be deleted; the lifecycle rule will expire it', { messageId: record.messageId, pointer, error: safeErrorText(err) });
      }
    }),
  );
}

/** The day a pointer's payload was written (`claims/<yyyy-mm-dd>/...`), as ms; undefined for another key. */
function claimDate(pointer: string): number | undefined {
  const day = /^claims\/(\d{4}-\d{2}-\d{2})\//.exec(pointer)?.[1];
  const ms = day === undefined ? Number.NaN : Date.parse(`${day}T00:00:00Z`);
  return Number.isFinite(ms) ? ms : undefined;
}

import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import type { FlowConfig } from '../config/schema';
import { claimOf } from '../core/claim-check';
import { keyProblem } from '../core/envelope';
import { isRefusedItem, safeErrorText } from '../core/error-text';
import { noopLogger, PartialWriteError, type AuditEntry, type AuditOutcome, type LogPort, type PayloadStore, type StateStore, type StoredState } from '../ports';
import { messageOf } from '../core/errors';

/**
 * Tracks which SQS messages of a batch failed, so one bad record never fails its batch:
 * the response lists exactly those messages in `batchItemFailures`.
 */
export class SqsBatch {
  private readonly failed = new Set<string>();

  constructor(
    readonly records: readonly SQSRecord[],
    private readonly logger: LogPort,
  ) {}

  /** Marks messages failed (they come back after the visibility timeout, then go to the DLQ). */
  fail(messageIds: Iterable<string>, why: string, err?: unknown): void {
    const ids = [...messageIds].filter((id) => !this.failed.has(id));
    if (ids.length === 0) return;
    for (const id of ids) this.failed.add(id);
    this.logger.warn(why, { messageIds: ids, error: describeError(err) });
  }

  isFailed(messageId: string): boolean {
    return this.failed.has(messageId);
  }

  /** Runs work that concerns `messageIds`; if it throws, those messages fail and `undefined` is returned. */
  async attempt<T>(messageIds: Iterable<string>, why: string, work: () => Promise<T>): Promise<T | undefined> {
    const ids = [...messageIds];
    try {
      return await work();
    } catch (err) {
      this.fail(ids, why, err);
      return undefined;
    }
  }

  /**
   * Runs a write of items that messages own (`owners[i]` owns item i). When the store refused only some items
   * (PartialWriteError), only their owners fail; any other error fails every owner. Answers whether all went in.
   */
  async attemptItems(owners: readonly (string | readonly string[])[], why: string, work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (err) {
      const ids = (positions: Iterable<number>) => [...positions].flatMap((i) => owners[i] ?? []);
      if (err instanceof PartialWriteError) this.fail(ids(err.failed), why, err);
      else this.fail(ids(owners.keys()), why, err);
      return false;
    }
  }

  /** Runs per-message work for every message not yet failed; a throw fails that message only. */
  async each(work: (record: SQSRecord) => Promise<void>, why = 'message processing failed'): Promise<void> {
    await Promise.all(
      this.records.filter((r) => !this.failed.has(r.messageId)).map((r) => this.attempt([r.messageId], why, () => work(r))),
    );
  }

  response(): SQSBatchResponse {
    return { batchItemFailures: [...this.failed].map((itemIdentifier) => ({ itemIdentifier })) };
  }
}

/** Runs a batch with `process` and answers the partial batch response; an unexpected throw fails every message not yet settled. */
export async function runSqsBatch(
  records: readonly SQSRecord[],
  logger: LogPort,
  process: (batch: SqsBatch) => Promise<void>,
): Promise<SQSBatchResponse> {
  const batch = new SqsBatch(records, logger);
  try {
    await process(batch);
  } catch (err) {
    batch.fail(
      records.map((r) => r.messageId),
      'batch processing failed',
      err,
    );
  }
  return batch.response();
}

/**
 * Reads the state of a batch's keys in one go. When DynamoDB refuses the read for what one key holds (a key it
 * cannot take), each key is read alone, so only the messages of the unreadable key fail.
 */
export async function readStates(
  batch: SqsBatch,
  stateStore: Pick<StateStore, 'getMany'>,
  flowId: string,
  groups: readonly { readonly key: string; readonly messageIds: readonly string[] }[],
): Promise<Map<string, StoredState> | undefined> {
  try {
    return await stateStore.getMany(flowId, groups.map((g) => g.key));
  } catch (err) {
    if (groups.length < 2 || !isRefusedItem(err)) {
      batch.fail(groups.flatMap((g) => g.messageIds), 'state read failed', err);
      return undefined;
    }
  }
  const out = new Map<string, StoredState>();
  for (const g of groups) {
    const one = await batch.attempt(g.messageIds, 'state read of one key failed', () => stateStore.getMany(flowId, [g.key]));
    for (const [k, v] of one ?? []) out.set(k, v);
  }
  return out;
}

/**
 * Resolves claim-check pointers (`{"syncline:claim": "<key>"}`, see SqsPublisher) to the bodies they stand for.
 * A pointer that cannot be read fails that message only: it is listed in `failed`, retried by SQS, then goes to
 * the DLQ (where the pointer is kept, so it can be redriven while the claim lives). Other records pass unchanged.
 */
export async function resolveClaimChecks(
  records: readonly SQSRecord[],
  payloads: PayloadStore,
  logger: LogPort = noopLogger,
): Promise<{ records: SQSRecord[]; failed: string[] }> {
  const failed: string[] = [];
  const resolved = await Promise.all(
    records.map(async (record): Promise<SQSRecord | undefined> => {
      const pointer = claimOf(record.body);
      if (pointer === undefined) return record;
      try {
        return { ...record, body: await payloads.get(pointer) };
      } catch (err) {
        logger.warn('claim-check payload could not be read', { messageId: record.messageId, pointer, error: describeError(err) });
        failed.push(record.messageId);
        return undefined;
      }
    }),
  );
  return { records: resolved.filter((r): r is SQSRecord => r !== undefined), failed };
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
    const unchanged = failed.length === 0 && records.every((r, i) => r === event.Records[i]);
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
        logger.warn('consumed claim-check payload could not be deleted; the lifecycle rule will expire it', { messageId: record.messageId, pointer, error: describeError(err) });
      }
    }),
  );
}

/** Parses a JSON message body against a schema; the error lists paths and messages, never values. */
export function parseBody<S extends z.ZodType>(schema: S, body: string): { ok: true; value: z.output<S> } | { ok: false; errors: string[] } {
  return parseBodyBy(() => schema, body);
}

/** A message of the transform or resolve queue: a change envelope, or a truncate to expand (`kind: "truncate"`). */
export function parseStepMessage(body: string): { ok: true; value: z.output<typeof envelopeSchema> | z.output<typeof truncateMessageSchema> } | { ok: false; errors: string[] } {
  return parseBodyBy((json) => ((json as { kind?: unknown } | null)?.kind === 'truncate' ? truncateMessageSchema : envelopeSchema), body);
}

/** A parsed step message that is a truncate. */
export const isTruncate = (m: object): m is z.output<typeof truncateMessageSchema> => (m as { kind?: unknown }).kind === 'truncate';

function parseBodyBy<S extends z.ZodType>(schemaOf: (json: unknown) => S, body: string): { ok: true; value: z.output<S> } | { ok: false; errors: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, errors: [`body is not valid JSON: ${messageOf(err)}`] };
  }
  const parsed = schemaOf(json).safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`) };
}

const ERROR_OUTCOMES: ReadonlySet<AuditOutcome> = new Set(['quarantined', 'failed', 'conflict']);

/** Whether the flow's audit level keeps an entry: `all` keeps everything, `decisions` all but captures, `errors` only failures. */
export function keepsAudit(flow: FlowConfig, outcome: AuditOutcome): boolean {
  switch (flow.audit.level) {
    case 'all':
      return true;
    case 'decisions':
      return outcome !== 'captured' && outcome !== 'duplicate';
    case 'errors':
      return ERROR_OUTCOMES.has(outcome);
  }
}

export function auditable(flow: FlowConfig, entries: readonly AuditEntry[]): AuditEntry[] {
  return auditableOwned(flow, entries.map((entry) => ({ entry, owner: '' }))).map((e) => e.entry);
}

/**
 * `auditable` for entries paired with the message that owns each. A key too long to store (quarantined for it by
 * the transform) is audited under the empty key rather than refused by the audit table.
 */
export function auditableOwned<O>(flow: FlowConfig, entries: readonly { entry: AuditEntry; owner: O }[]): { entry: AuditEntry; owner: O }[] {
  return entries
    .map((e) => (keyProblem(e.entry.key) ? { ...e, entry: { ...e.entry, key: '' } } : e))
    // A capture whose key only the transform can derive is audited by the transform step, under that key.
    .filter((e) => keepsAudit(flow, e.entry.outcome) && !(e.entry.outcome === 'captured' && e.entry.key === ''));
}

/** Error name (and a fixed phrase for known refusals): SDK and marshalling messages may quote record values. */
export function describeError(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  return safeErrorText(err);
}

const lineageStepSchema = z.object({ step: z.enum(['capture', 'transform', 'resolve', 'deliver']), at: z.number(), outcome: z.string() });

/** A ChangeEnvelope as it travels in a queue message. */
export const envelopeSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  flow: z.string().min(1),
  source: z.string().min(1),
  key: z.string(),
  op: z.enum(['upsert', 'delete']),
  data: z.record(z.string(), z.unknown()).optional(),
  before: z.record(z.string(), z.unknown()).optional(),
  ts: z.number().finite(),
  seq: z.string(),
  pos: z.string().min(1).optional(),
  tbl: z.string().min(1).optional(),
  keep: z.array(z.string()).optional(),
  lineage: z.array(lineageStepSchema),
  origin: z
    .object({ flow: z.string(), target: z.string(), version: z.number(), hash: z.string(), ts: z.number() })
    .optional(),
  piiFlagged: z.array(z.string()).optional(),
});

/** A truncate to expand into deletes (see TruncateMessage). */
export const truncateMessageSchema = z.object({
  v: z.literal(1),
  kind: z.literal('truncate'),
  id: z.string().min(1),
  flow: z.string().min(1),
  source: z.string().min(1),
  table: z.string().min(1),
  ts: z.number().finite(),
  seq: z.string(),
  pos: z.string().min(1).optional(),
  at: z.number().finite(),
  cursor: z.string().min(1).optional(),
});

/** A resolved change as the resolve step sends it to each target's delivery queue. */
export const deliveryMessageSchema = z.object({
  v: z.literal(1),
  flow: z.string().min(1),
  key: z.string().min(1),
  version: z.number().int().positive(),
  hash: z.string(),
  ts: z.number(),
  eventIds: z.array(z.string()),
  /** Set by a replay: deliver even where the target's marker already has this version. */
  replay: z.object({ by: z.string(), at: z.number() }).optional(),
});
export type DeliveryMessage = z.output<typeof deliveryMessageSchema>;

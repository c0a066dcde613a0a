import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { ORIGIN_MARKER_ATTRIBUTE, snapshotEnvelope, type DynamoDbStreamSource } from '../core/capture/dynamodb-stream';
import { captureProblem, quarantineOf } from '../core/capture/capture-outcome';
import { contentHash, eventId, type ChangeEnvelope } from '../core/envelope';
import { matchesPattern } from '../core/event-pattern';
import { carryProblems } from '../core/json-safety';
import { captureKeys } from '../core/transform/raw-record';
import { type AuditEntry, type QuarantineItem, type ScannedItem, type TableScanner, telemetryOf } from '../ports';
import { auditable } from './audit-policy';
import type { CaptureUseCaseDeps } from './capture-deps';
import { SynclineError } from '../core/errors';
import { issueLines, literal, number, object, optional, refine, safeParse, string, type Infer, type Issue } from '../core/shape';
import { safeErrorText } from '../core/error-text';

/** Dependencies of the backfill of one `dynamodb-stream` source (its capture function, in AWS). */
export interface BackfillDeps extends CaptureUseCaseDeps {
  /** Reads the source table. */
  readonly scanner: TableScanner;
  /**
   * Milliseconds left to a chunk when there is no Lambda context.
   * @default the Lambda context's getRemainingTimeInMillis(), else unlimited
   */
  readonly remainingMs?: () => number;
  /**
   * A chunk stops, answering a cursor, when less than this (or twice its slowest page) is left.
   * @default 10000
   */
  readonly reserveMs?: number;
  /**
   * Items read per Scan page (DynamoDB also ends a page at 1 MB): the granularity of the time budget.
   * @default 1000
   */
  readonly pageSize?: number;
}

/** Parallel scan segments of a whole backfill. */
export const DEFAULT_BACKFILL_SEGMENTS = 4;
/** DynamoDB's largest TotalSegments. */
export const MAX_TOTAL_SEGMENTS = 1_000_000;

const chunkFields = {
  segment: number({ int: true, min: 0 }),
  totalSegments: number({ int: true, min: 1, max: MAX_TOTAL_SEGMENTS }),
  cursor: optional(string({ min: 1 })),
  maxItems: optional(number({ int: true, gt: 0 })),
};
const segmentInRange = (r: { segment: number; totalSegments: number }) => r.segment < r.totalSegments;
const SEGMENT_MESSAGE = 'segment must be below totalSegments (segments are numbered from 0)';

const chunkRequestSchema = refine(object(chunkFields, 'strict'), segmentInRange, SEGMENT_MESSAGE, ['segment']);
const invocationSchema = refine(object({ action: literal('backfill'), sourceId: string({ min: 1 }), ...chunkFields }, 'strict'), segmentInRange, SEGMENT_MESSAGE, ['segment']);

/** One chunk: segment `segment` of `totalSegments`, from `cursor` (absent = the segment's start), at most `maxItems` items. */
export type BackfillChunkRequest = Infer<typeof chunkRequestSchema>;

/** The direct invocation payload of a `dynamodb-stream` capture function that runs a backfill chunk. */
export type BackfillInvocation = Infer<typeof invocationSchema>;

/** Counts of a backfill (or one chunk of it). */
export interface BackfillCounts {
  /** Items read from the table. */
  readonly scanned: number;
  /** Snapshots sent to the transform queue. */
  readonly sent: number;
  /** Items the source's `filter` drops (as the stream capture would). */
  readonly filtered: number;
  /** Items that cannot be captured (unreadable, no key, too large), stored in quarantine. */
  readonly quarantined: number;
  /** Snapshots the queue refused after retries; run that part of the backfill again. */
  readonly failed: number;
}

/** The answer to one chunk. */
export interface BackfillChunkResult extends BackfillCounts {
  readonly flow: string;
  readonly source: string;
  readonly table: string;
  readonly segment: number;
  readonly totalSegments: number;
  /** Where the next chunk of this segment starts; absent once the segment is finished. */
  readonly cursor?: string;
  /** The table's approximate item count (DescribeTable ItemCount), for progress. */
  readonly approximateItems?: number;
}

/** The answer to a whole backfill (every segment to its end). */
export interface BackfillSummary extends BackfillCounts {
  readonly flow: string;
  readonly source: string;
  readonly table: string;
  readonly segments: number;
}

/** A chunk request or invocation payload that is not valid: a caller error, answered 400 locally, never retried. */
export class BackfillRequestError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'BackfillRequestError';
  }
}

/** What a chunk needs of a Lambda context. */
export type RemainingTime = Pick<Context, 'getRemainingTimeInMillis'>;

export interface BackfillHandler {
  /** Runs one chunk given as `{"segment", "totalSegments", "cursor"?, "maxItems"?}` (validated). */
  chunk(request: unknown, context?: RemainingTime): Promise<BackfillChunkResult>;
  /** Runs one chunk given as a direct invocation `{"action": "backfill", "sourceId", "segment", "totalSegments", ...}`. */
  invoke(event: unknown, context?: RemainingTime): Promise<BackfillChunkResult>;
  /** Re-captures the whole table: every segment in parallel, chunk after chunk until each ends. */
  all(segments?: number): Promise<BackfillSummary>;
}

type Counts = { -readonly [K in keyof BackfillCounts]: number };
const zero = (): Counts => ({ scanned: 0, sent: 0, filtered: 0, quarantined: 0, failed: 0 });

/**
 * Re-captures a `dynamodb-stream` source's table: scanned items become `upsert` snapshots (`snapshotEnvelope`) on the
 * flow's transform queue, with the source's `filter` and `attributes` applied as the stream capture applies them;
 * an item without its key or over the size limit goes to quarantine with its scan position. Merges are idempotent
 * and ordered by clock, so a backfill (or a chunk run twice) never regresses newer state. A chunk always reads at
 * least one page, so a caller looping on the cursor always progresses.
 */
export function createBackfillHandler(deps: BackfillDeps): BackfillHandler {
  const { flow, scanner } = deps;
  const source = flow.sources.find((s): s is DynamoDbStreamSource => s.id === deps.sourceId && s.type === 'dynamodb-stream');
  if (!source) throw new Error(`flow "${flow.id}" has no dynamodb-stream source "${deps.sourceId}"`);
  const { clock, logger, metrics } = telemetryOf(deps);
  const keys = captureKeys(flow);
  const reserveMs = deps.reserveMs ?? 10_000;
  const pageSize = deps.pageSize ?? 1000;
  const table = scanner.tableName;

  // `readAt` is taken before the page is read: the snapshots' clock must not pass a change made after the read.
  const capturePage = async (items: readonly ScannedItem[], readAt: number, request: BackfillChunkRequest, page: number, counts: Counts) => {
    const at = clock.now();
    const envelopes: ChangeEnvelope[] = [];
    const quarantined: QuarantineItem[] = [];
    const audits: AuditEntry[] = [];
    items.forEach((scanned, index) => {
      const position = `${table} scan segment ${request.segment}/${request.totalSegments} page ${page} item ${index}`;
      const bad = (reason: string, record: Record<string, unknown>, key = '', unstorable?: readonly string[]) => {
        // By record and reason, not by run: a backfill run again over the same bad item keeps one quarantine item.
        const id = eventId(flow.id, source.id, 'snapshot', key || position, contentHash(record), reason);
        const { item, entry } = quarantineOf(flow, { id, source: source.id, at, reason, unstorable, record, seq: `snapshot:${at}`, position, key });
        quarantined.push(item);
        audits.push(entry);
      };
      const item = scanned.record;
      if (!item) return bad(scanned.error ?? 'item cannot be read', {});
      const { [ORIGIN_MARKER_ATTRIBUTE]: _marker, ...full } = item;
      if (source.filter && !matchesPattern(source.filter, full)) {
        counts.filtered++;
        return;
      }
      const env = snapshotEnvelope(flow, source.id, item, readAt);
      const key = keys.keyOf(env.data);
      const unstorable = carryProblems(env.data ?? {});
      const problem = captureProblem(flow, { unstorable, key, sized: env, op: env.op });
      // A missing key is '' anyway: the envelope keeps the key as captured, as the stream capture's does.
      if (problem !== undefined) return bad(problem, env.data ?? {}, key, unstorable);
      envelopes.push(env);
      audits.push({ flow: flow.id, key, step: 'capture', at, source: source.id, eventId: env.id, outcome: 'captured', detail: { op: 'upsert', backfill: true } });
    });
    let failedIds = new Set<string>();
    if (envelopes.length > 0) {
      // Duplicate ids (identical items) are one snapshot: merges would absorb the repeat anyway.
      const unique = [...new Map(envelopes.map((e) => [e.id, e])).values()];
      const { failed } = await deps.publisher.send(deps.transformQueueUrl, unique.map((e) => ({ id: e.id, body: JSON.stringify(e) })));
      failedIds = new Set(failed);
      counts.failed += failedIds.size;
      counts.sent += unique.length - failedIds.size;
    }
    if (quarantined.length > 0) await deps.quarantine.put(quarantined);
    counts.quarantined += quarantined.length;
    // A snapshot the queue refused was not captured: it is counted in `failed`, not audited.
    const entries = auditable(flow, audits.filter((a) => !(a.outcome === 'captured' && failedIds.has(a.eventId))));
    if (entries.length > 0) await deps.audit.write(entries);
  };

  const runChunk = async (request: BackfillChunkRequest, remainingMs: () => number): Promise<BackfillChunkResult> => {
    const counts = zero();
    const approximate = scanner.approximateItemCount().catch((err: unknown) => {
      logger.warn('approximate item count unavailable', { flow: flow.id, source: source.id, table, error: safeErrorText(err) });
      return undefined;
    });
    let cursor = request.cursor;
    let page = 0;
    let slowestPageMs = 0;
    do {
      if (page > 0 && remainingMs() < Math.max(reserveMs, 2 * slowestPageMs)) break;
      const started = clock.now();
      const limit = request.maxItems === undefined ? pageSize : Math.min(pageSize, request.maxItems - counts.scanned);
      const out = await scanner.scanPage({ segment: request.segment, totalSegments: request.totalSegments, limit, ...(cursor !== undefined ? { cursor } : {}) });
      counts.scanned += out.items.length;
      await capturePage(out.items, started, request, page++, counts);
      cursor = out.cursor;
      slowestPageMs = Math.max(slowestPageMs, clock.now() - started);
    } while (cursor !== undefined && (request.maxItems === undefined || counts.scanned < request.maxItems));

    metrics.count('Captured', counts.sent);
    metrics.count('Quarantined', counts.quarantined);
    metrics.count('Filtered', counts.filtered);
    const approximateItems = await approximate;
    logger.info('backfill chunk', { flow: flow.id, source: source.id, table, segment: request.segment, totalSegments: request.totalSegments, pages: page, ...counts, finished: cursor === undefined });
    return {
      flow: flow.id,
      source: source.id,
      table,
      segment: request.segment,
      totalSegments: request.totalSegments,
      ...counts,
      ...(cursor !== undefined ? { cursor } : {}),
      ...(approximateItems !== undefined ? { approximateItems } : {}),
    };
  };

  const remainingOf = (context: RemainingTime | undefined) =>
    context?.getRemainingTimeInMillis ? () => context.getRemainingTimeInMillis() : (deps.remainingMs ?? (() => Number.POSITIVE_INFINITY));

  return {
    chunk: async (request, context) => runChunk(parseChunkRequest(request), remainingOf(context)),
    invoke: async (event, context) => {
      const { action: _action, sourceId, ...request } = parseInvocation(event, source.id);
      if (sourceId !== source.id) throw new BackfillRequestError(`this function captures source "${source.id}" of flow "${flow.id}", not "${sourceId}"`);
      return runChunk(request, remainingOf(context));
    },
    all: async (segments = DEFAULT_BACKFILL_SEGMENTS) => {
      const request = parseChunkRequest({ segment: 0, totalSegments: segments });
      const totals = zero();
      await Promise.all(
        Array.from({ length: request.totalSegments }, async (_, segment) => {
          let cursor: string | undefined;
          do {
            const result = await runChunk({ segment, totalSegments: request.totalSegments, ...(cursor !== undefined ? { cursor } : {}) }, deps.remainingMs ?? (() => Number.POSITIVE_INFINITY));
            for (const k of Object.keys(totals) as (keyof Counts)[]) totals[k] += result[k];
            cursor = result.cursor;
          } while (cursor !== undefined);
        }),
      );
      return { flow: flow.id, source: source.id, table, segments: request.totalSegments, ...totals };
    },
  };
}

/**
 * The capture function of a `dynamodb-stream` source: stream events go to the stream capture, a direct invocation
 * (`{"action": "backfill", ...}`) runs a backfill chunk and answers its result. Anything else throws, which a
 * synchronous invoke surfaces to its caller as a FunctionError.
 */
export function dispatchStreamOrBackfill(
  stream: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>,
  backfill: BackfillHandler,
): (event: unknown, context?: RemainingTime) => Promise<DynamoDBBatchResponse | BackfillChunkResult> {
  return async (event, context) => {
    if (event && typeof event === 'object' && Array.isArray((event as { Records?: unknown }).Records)) return stream(event as DynamoDBStreamEvent);
    return backfill.invoke(event, context);
  };
}

function issuesOf(issues: readonly Issue[]): string {
  return issueLines(issues).join('; ');
}

function parseChunkRequest(body: unknown): BackfillChunkRequest {
  const parsed = safeParse(chunkRequestSchema, body);
  if (parsed.success) return parsed.data;
  throw new BackfillRequestError(`invalid backfill chunk: expected {"segment": 0, "totalSegments": 4, "cursor"?: "<from the last answer>", "maxItems"?: 1000} (${issuesOf(parsed.issues)})`);
}

function parseInvocation(event: unknown, sourceId: string): BackfillInvocation {
  const parsed = safeParse(invocationSchema, event);
  if (parsed.success) return parsed.data;
  throw new BackfillRequestError(
    `not a DynamoDB stream event or a backfill request: expected {"action": "backfill", "sourceId": "${sourceId}", "segment": 0, "totalSegments": 4, "cursor"?: "<from the last answer>", "maxItems"?: 1000} (${issuesOf(parsed.issues)})`,
  );
}

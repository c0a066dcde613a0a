import { safeErrorText } from '../core/error-text';
import { MAX_KEY_BYTES, type ChangeEnvelope } from '../core/envelope';
import { quarantinedByResolve } from './resolve-oversized';
import { noopLogger, systemClock, type Clock, type LogPort, type Publisher, type QuarantineCursor, type QuarantineItem, type QuarantineStore } from '../ports';

/** Lineage outcome of the transform step on a replayed envelope. */
export const REPLAYED = 'replayed';

export interface QuarantineReplayDeps {
  /** Transform queue URL of each flow; a flow not in it answers 404. */
  readonly transformQueues: ReadonlyMap<string, string>;
  /**
   * Of each flow, for changes resolve quarantined (their records are transformed already): its resolve queue URL and
   * the fingerprint of its current transform, which the change's must match.
   */
  readonly resolveReplays: ReadonlyMap<string, { readonly queueUrl: string; readonly transform: string }>;
  readonly quarantine: QuarantineStore;
  readonly publisher: Publisher;
  readonly clock?: Clock;
  readonly logger?: LogPort;
}

export interface ReplayAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What a replay did: counts, and the ids behind them. */
export interface ReplaySummary {
  readonly flow: string;
  /** Re-sent to the transform queue (or, quarantined by resolve, to the resolve queue) and removed from quarantine. */
  readonly replayed: number;
  /** Could not be sent; still quarantined. */
  readonly failed: number;
  /** Cannot be replayed (not an envelope, quarantined at capture, or made by another transform: see {@link replayable}); still quarantined. */
  readonly skipped: number;
  /** Ids asked for that are not quarantined. */
  readonly notFound: readonly string[];
  readonly ids: { readonly replayed: readonly string[]; readonly failed: readonly string[]; readonly skipped: readonly string[] };
}

/**
 * Whether the stored item can go through the transform again. Not a poison message (it was no valid envelope, so
 * only its record was kept: source "unknown"), nor a record quarantined at capture: its stored copy is not the record as sent (numbers
 * as strings, unstorable field names renamed) and its envelope has no source time, so a replay would invent data
 * and stamp it with the capture time. Such records come back when their source sends them again. Nor one whose
 * record was too large to keep in the item (`dropped`). Nor a change resolve set aside (its record already
 * transformed, so it goes back to resolve) once the flow's transform has changed (`transform`, the fingerprint of
 * the current one): it would miss the new transform, a new mask or exclude included.
 */
export function replayable(item: QuarantineItem, transform?: string): boolean {
  if (item.source === 'unknown' || !item.envelope?.source || item.dropped !== undefined) return false;
  if (quarantinedByResolve(item)) return item.transform !== undefined && item.transform === transform;
  return !item.envelope.lineage.some((l) => l.step === 'capture' && l.outcome === 'quarantined');
}

/** The envelope to re-send: the stored one with the masked record as its data, and a step noting the replay. */
export function replayEnvelope(item: QuarantineItem, at: number): ChangeEnvelope {
  const step = quarantinedByResolve(item) ? 'resolve' : 'transform';
  return { ...item.envelope, data: item.record, lineage: [...item.envelope.lineage, { step, at, outcome: REPLAYED }] } as ChangeEnvelope;
}

function parseBody(body: unknown): { ids: string[] } | { all: true } | string {
  const usage = 'the body must be {"ids": ["<quarantine id>", ...]} or {"all": true}';
  if (!body || typeof body !== 'object' || Array.isArray(body)) return usage;
  const { ids, all, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return `unknown field(s) ${Object.keys(rest).join(', ')}: ${usage}`;
  if ((ids === undefined) === (all === undefined)) return usage;
  if (all !== undefined) return all === true ? { all: true } : usage;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((i) => typeof i === 'string' && i !== '')) return 'ids must be a non-empty array of quarantine ids';
  // A quarantine id is the item's sort key, which DynamoDB caps at 1024 bytes: a longer one names no item.
  const tooLong = (ids as string[]).findIndex((i) => Buffer.byteLength(i, 'utf8') > MAX_KEY_BYTES);
  if (tooLong >= 0) return `ids[${tooLong}] is ${Buffer.byteLength(ids[tooLong] as string, 'utf8')} bytes; no quarantine id is longer than ${MAX_KEY_BYTES} bytes`;
  return { ids: [...new Set(ids as string[])] };
}

/**
 * Replays quarantined records through the flow's current transform: each item's envelope goes back to the
 * transform queue with `data` = the stored record. The stored record is masked, so masked fields arrive
 * masked. Items are removed once sent (only if not quarantined again meanwhile); a record the transform still
 * rejects is simply quarantined again.
 */
export function createQuarantineReplay(deps: QuarantineReplayDeps): { replay(flowId: string, body: unknown): Promise<ReplayAnswer> } {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? noopLogger;
  return {
    async replay(flowId, body) {
      const queueUrl = deps.transformQueues.get(flowId);
      if (!queueUrl) return { status: 404, body: { message: `unknown flow "${flowId}"` } };
      const request = parseBody(body);
      if (typeof request === 'string') return { status: 400, body: { message: request } };
      const wanted = 'all' in request ? await everyItem(deps.quarantine, flowId) : await deps.quarantine.get(flowId, request.ids);
      const byId = new Set(wanted.map((i) => i.id));
      const notFound = 'all' in request ? [] : request.ids.filter((id) => !byId.has(id));
      const again = deps.resolveReplays.get(flowId);
      const skipped: QuarantineItem[] = [];
      const toSend: QuarantineItem[] = [];
      for (const i of wanted) (replayable(i, again?.transform) ? toSend : skipped).push(i);
      const now = clock.now();
      // A change resolve set aside goes back to resolve: its record went through the transform already.
      const byQueue = new Map<string, QuarantineItem[]>();
      for (const i of toSend) {
        const url = again && quarantinedByResolve(i) ? again.queueUrl : queueUrl;
        const items = byQueue.get(url) ?? [];
        if (items.length === 0) byQueue.set(url, items);
        items.push(i);
      }
      const failed: QuarantineItem[] = [];
      for (const [url, items] of byQueue) {
        try {
          const { failed: ids } = await deps.publisher.send(url, items.map((i, n) => ({ id: String(n), body: JSON.stringify(replayEnvelope(i, now)) })));
          failed.push(...ids.map((id) => items[Number(id)]!));
        } catch (err) {
          logger.error('quarantine replay not sent', { flow: flowId, error: safeErrorText(err) });
          failed.push(...items);
        }
      }
      const unsent = new Set(failed);
      const sent = toSend.filter((i) => !unsent.has(i));
      await deps.quarantine.delete(sent);
      logger.info('quarantine replayed', { flow: flowId, replayed: sent.length, failed: failed.length, skipped: skipped.length });
      const summary: ReplaySummary = {
        flow: flowId,
        replayed: sent.length,
        failed: failed.length,
        skipped: skipped.length,
        notFound,
        ids: { replayed: sent.map((i) => i.id), failed: failed.map((i) => i.id), skipped: skipped.map((i) => i.id) },
      };
      return { status: 200, body: summary };
    },
  };
}

/** Every item of the flow, page by page through the listing (newest first). */
async function everyItem(store: QuarantineStore, flowId: string): Promise<QuarantineItem[]> {
  const items: QuarantineItem[] = [];
  let before: QuarantineCursor | undefined;
  do {
    const page = await store.list(flowId, { limit: 500, ...(before ? { before } : {}) });
    items.push(...page.items);
    before = page.next;
  } while (before);
  return items;
}

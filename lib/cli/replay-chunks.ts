import type { QuarantineItem } from '../../functions/ports';
import { LISTING_PAGE } from '../../functions/handlers/admin-api';
import type { Progress } from './progress';
import type { SynclineTarget } from './target';

/** Quarantine ids per replay request, so the bar moves and no request runs long. */
export const REPLAY_CHUNK = 25;

/** What a replay did, summed over its requests (the shape of one replay answer). */
export interface ReplayTotals {
  readonly flow: string;
  readonly replayed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly notFound: string[];
  readonly ids: { readonly replayed: string[]; readonly failed: string[]; readonly skipped: string[] };
}

interface ReplayAnswer {
  readonly replayed: number;
  readonly failed: number;
  readonly skipped?: number;
  readonly notFound?: readonly string[];
  readonly ids?: { readonly replayed?: readonly string[]; readonly failed?: readonly string[]; readonly skipped?: readonly string[] };
}

/** Replays quarantined records in chunks of ids: the given ids, or (`all`) every record of the listing, page by page. */
export async function replayInChunks(target: SynclineTarget, flowId: string, request: { ids: readonly string[] } | { all: true }, progress: Progress, chunkSize = REPLAY_CHUNK): Promise<ReplayTotals> {
  const path = `/flows/${encodeURIComponent(flowId)}`;
  const totals = { replayed: [] as string[], failed: [] as string[], skipped: [] as string[], notFound: [] as string[], counts: { replayed: 0, failed: 0, skipped: 0 } };
  const tried = new Set<string>();
  let planned = 0;
  let done = 0;
  const send = async (ids: readonly string[]) => {
    planned += ids.length;
    for (let i = 0; i < ids.length; i += chunkSize) {
      const chunk = ids.slice(i, i + chunkSize);
      chunk.forEach((id) => tried.add(id));
      const answer = (await target.post(`${path}/quarantine/replay`, { ids: chunk })) as ReplayAnswer;
      totals.counts.replayed += answer.replayed;
      totals.counts.failed += answer.failed;
      totals.counts.skipped += answer.skipped ?? 0;
      totals.replayed.push(...(answer.ids?.replayed ?? []));
      totals.failed.push(...(answer.ids?.failed ?? []));
      totals.skipped.push(...(answer.ids?.skipped ?? []));
      totals.notFound.push(...(answer.notFound ?? []));
      done += chunk.length;
      progress.update(done, planned);
    }
  };
  if ('ids' in request) await send([...new Set(request.ids)]);
  else {
    // Page by page, newest first, each page older than the last, until one comes back empty (a page of large
    // records may be short): an item quarantined again by the replay is newer than where the listing is, so it is
    // not tried twice; one the replay skips stays behind the cursor.
    let before: string | undefined;
    for (;;) {
      const query = `limit=${LISTING_PAGE.default}${before ? `&before=${encodeURIComponent(before)}` : ''}`;
      const items = (await target.get(`${path}/quarantine?${query}`)) as QuarantineItem[];
      if (items.length === 0) break;
      const fresh = items.filter((item) => !tried.has(item.id)).map((item) => item.id);
      if (fresh.length > 0) await send(fresh);
      const last = items.at(-1)!;
      const next = `${last.at}:${last.id}`;
      // A listing that does not move on (a server that ignores the cursor) ends the walk rather than looping.
      if (next === before) break;
      before = next;
    }
  }
  return {
    flow: flowId,
    ...totals.counts,
    notFound: totals.notFound,
    ids: { replayed: totals.replayed, failed: totals.failed, skipped: totals.skipped },
  };
}

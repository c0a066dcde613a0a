import type { QuarantineItem } from '../../functions/ports';
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

/**
 * Replays quarantined records in chunks of ids: the given ids, or (`all`) every record quarantined when the
 * replay started. The listing shows the newest records only, so `all` lists again after each round and stops
 * when no record it has not tried is left; records quarantined again by the replay itself are newer than the
 * start and are not tried twice.
 */
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
    let cutoff: number | undefined;
    for (;;) {
      const items = (await target.get(`${path}/quarantine`)) as QuarantineItem[];
      cutoff ??= items.reduce((max, item) => Math.max(max, item.at), 0);
      const fresh = items.filter((item) => !tried.has(item.id) && item.at <= cutoff!).map((item) => item.id);
      if (fresh.length === 0) break;
      await send(fresh);
    }
  }
  return {
    flow: flowId,
    ...totals.counts,
    notFound: totals.notFound,
    ids: { replayed: totals.replayed, failed: totals.failed, skipped: totals.skipped },
  };
}

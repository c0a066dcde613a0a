import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { backfillInChunks } from '../../../lib/cli/backfill';
import { LocalTarget } from '../../../lib/cli/local-target';
import { createProgress, noProgress, type Progress } from '../../../lib/cli/progress';
import { replayInChunks } from '../../../lib/cli/replay-chunks';
import type { BackfillChunkRequest, BackfillChunkResult, SynclineTarget } from '../../../lib/cli/target';
import { startJsonServer, type JsonServer } from '../../support/json-server';
import { InMemoryQuarantineStore } from '../../fixtures/fakes';
import { quarantineListing } from '../../../functions/handlers/admin-api';
import type { QuarantineItem } from '../../../functions/ports';

function recordingProgress(): Progress & { updates: [number, number | undefined][] } {
  const updates: [number, number | undefined][] = [];
  return { updates, update: (v, t) => void updates.push([v, t]), stop: () => undefined };
}

/** A target whose admin calls and operations are given per test. */
function fakeTarget(parts: Partial<SynclineTarget>): SynclineTarget {
  const none = () => Promise.reject(new Error('not expected'));
  return { name: 'fake', get: none, post: none, redrive: none, backfillChunk: none, pull: none, storeClient: none, ...parts };
}

describe('local redrive', () => {
  let server: JsonServer | undefined;
  afterEach(() => server?.close());

  it('moves a large DLQ in chunks until nothing remains, drawing progress', async () => {
    // Prepare: 250 messages, 100 per request.
    let left = 250;
    server = await startJsonServer((req) => {
      const { max } = JSON.parse(req.body) as { max: number };
      const n = Math.min(max, left);
      left -= n;
      return { body: { flow: 'orders', moved: { transform: n }, total: n, remaining: { transform: left } } };
    });
    const progress = recordingProgress();

    // Act
    const result = await new LocalTarget(server.url).redrive('orders', 'transform', progress);

    // Assess
    expect(result).toEqual({ flow: 'orders', moved: { transform: 250 }, total: 250 });
    expect(server.requests.map((r) => JSON.parse(r.body))).toEqual([
      { step: 'transform', max: 100 },
      { step: 'transform', max: 100 },
      { step: 'transform', max: 100 },
    ]);
    expect(progress.updates).toEqual([
      [100, 250],
      [200, 250],
      [250, 250],
    ]);
  });

  it('stops after one request when the runtime moves everything at once and reports no remainder', async () => {
    // Prepare
    server = await startJsonServer(() => ({ body: { flow: 'orders', moved: { transform: 7, resolve: 0 }, total: 7 } }));

    // Act
    const result = await new LocalTarget(server.url).redrive('orders', undefined, noProgress);

    // Assess
    expect(result).toEqual({ flow: 'orders', moved: { transform: 7, resolve: 0 }, total: 7 });
    expect(server.requests).toHaveLength(1);
  });
});

describe('backfill in chunks', () => {
  const chunkOf = (req: BackfillChunkRequest, scanned: number, cursor?: string): BackfillChunkResult => ({
    flow: 'orders',
    source: 'table',
    table: 'orders-table',
    segment: req.segment,
    totalSegments: req.totalSegments,
    scanned,
    sent: scanned,
    filtered: 0,
    quarantined: 0,
    failed: 0,
    approximateItems: 90,
    ...(cursor ? { cursor } : {}),
  });

  it('runs every segment on its cursor until done and sums the chunks', async () => {
    // Prepare: each segment has three chunks of 10 items.
    const requests: BackfillChunkRequest[] = [];
    const target = fakeTarget({
      backfillChunk: async (_f, _s, req) => {
        requests.push(req);
        const n = req.cursor === undefined ? 1 : Number(req.cursor);
        return chunkOf(req, 10, n < 3 ? String(n + 1) : undefined);
      },
    });
    const progress = recordingProgress();

    // Act
    const totals = await backfillInChunks(target, 'orders', 'table', 3, 10, progress);

    // Assess
    expect(totals).toEqual({ flow: 'orders', source: 'table', table: 'orders-table', segments: 3, scanned: 90, sent: 90, filtered: 0, quarantined: 0, failed: 0 });
    expect(requests).toHaveLength(9);
    for (const segment of [0, 1, 2]) {
      expect(requests.filter((r) => r.segment === segment).map((r) => r.cursor)).toEqual([undefined, '2', '3']);
    }
    expect(requests.every((r) => r.totalSegments === 3 && r.maxItems === 10)).toBe(true);
    expect(progress.updates.at(-1)).toEqual([90, 90]);
  });

  it('stops the other segments when one fails', async () => {
    // Prepare: segment 1 fails on its first chunk; segment 0 would go on forever.
    let calls = 0;
    const target = fakeTarget({
      backfillChunk: async (_f, _s, req) => {
        calls++;
        if (req.segment === 1) throw new Error('function timed out');
        await new Promise((r) => setTimeout(r, 5));
        return chunkOf(req, 1, 'more');
      },
    });

    // Act / Assess
    await expect(backfillInChunks(target, 'orders', 'table', 2, 1, noProgress)).rejects.toThrow('function timed out');
    const after = calls;
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(after);
  });
});

describe('quarantine replay in chunks', () => {
  const answer = (ids: string[]) => ({ flow: 'orders', replayed: ids.length, failed: 0, skipped: 0, notFound: [], ids: { replayed: ids, failed: [], skipped: [] } });

  it('sends the given ids 25 at a time and sums the answers', async () => {
    // Prepare
    const bodies: { ids: string[] }[] = [];
    const target = fakeTarget({
      post: async (_path, body) => {
        bodies.push(body as { ids: string[] });
        return answer((body as { ids: string[] }).ids);
      },
    });
    const ids = Array.from({ length: 60 }, (_, i) => `q${i}`);
    const progress = recordingProgress();

    // Act
    const result = await replayInChunks(target, 'orders', { ids }, progress);

    // Assess
    expect(bodies.map((b) => b.ids.length)).toEqual([25, 25, 10]);
    expect(result.replayed).toBe(60);
    expect(result.ids.replayed).toEqual(ids);
    expect(progress.updates).toEqual([
      [25, 60],
      [50, 60],
      [60, 60],
    ]);
  });

  it('replays --all by listing, and does not replay records quarantined again during the replay', async () => {
    // Prepare: the listing shows q1 and q2; replaying q2 fails; q1 comes back under a new id, newer than the start.
    const quarantined = new Map([
      ['q1', 100],
      ['q2', 90],
    ]);
    const target = fakeTarget({
      // Newest first, older than `before` (as the admin API pages).
      get: async (path) => {
        const before = new URL(path, 'http://x').searchParams.get('before');
        const cut = before ? Number(before.split(':')[0]) : Infinity;
        return [...quarantined].map(([id, at]) => ({ id, at })).filter((i) => i.at < cut).sort((a, b) => b.at - a.at);
      },
      post: async (_path, body) => {
        const ids = (body as { ids: string[] }).ids;
        quarantined.delete('q1');
        quarantined.set('q1-again', 200);
        return { flow: 'orders', replayed: 1, failed: 1, skipped: 0, notFound: [], ids: { replayed: ['q1'], failed: ids.filter((i) => i === 'q2'), skipped: [] } };
      },
    });

    // Act
    const result = await replayInChunks(target, 'orders', { all: true }, noProgress);

    // Assess
    expect(result).toMatchObject({ replayed: 1, failed: 1, ids: { replayed: ['q1'], failed: ['q2'] } });
  });

  it('replays --all page by page, reaching older records behind a full page of ones it must skip', async () => {
    // Prepare: 1,000 newest records were quarantined at capture (skipped by a replay, so they stay); 5 older ones replay.
    const store = new InMemoryQuarantineStore();
    const quarantined = (id: string, at: number): QuarantineItem => ({ flow: 'orders', id, at, source: 'crm', reason: 'bad', errors: [], record: {}, envelope: { v: 1, id, flow: 'orders', source: 'crm', key: id, op: 'upsert', ts: at, seq: id, lineage: [] } });
    await store.put([...Array.from({ length: 1000 }, (_, i) => quarantined(`capture-${i}`, 10_000 + i)), ...Array.from({ length: 5 }, (_, i) => quarantined(`old-${i}`, 1_000 + i))]);
    const target = fakeTarget({
      get: async (path) => {
        const url = new URL(path, 'http://x');
        return (await store.list('orders', quarantineListing(Object.fromEntries(url.searchParams)))).items;
      },
      post: async (_path, body) => {
        const ids = (body as { ids: string[] }).ids;
        const replayed = ids.filter((id) => id.startsWith('old-'));
        await store.delete((await store.get('orders', replayed)));
        const skipped = ids.filter((id) => !replayed.includes(id));
        return { flow: 'orders', replayed: replayed.length, failed: 0, skipped: skipped.length, notFound: [], ids: { replayed, failed: [], skipped } };
      },
    });

    // Act
    const result = await replayInChunks(target, 'orders', { all: true }, noProgress);

    // Assess
    expect(result).toMatchObject({ replayed: 5, skipped: 1000, failed: 0 });
    expect(result.ids.replayed.sort()).toEqual(['old-0', 'old-1', 'old-2', 'old-3', 'old-4']);
    expect((await store.list('orders', { limit: 1000 })).items.every((i) => i.id.startsWith('capture-'))).toBe(true);
  });
});

describe('progress bar', () => {
  const tty = () => Object.assign(new PassThrough(), { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream & PassThrough;

  it('draws on a terminal, and not at all with --json or when stderr is not a terminal', () => {
    // Prepare
    const stream = tty();
    let drawn = '';
    stream.on('data', (d) => (drawn += String(d)));

    // Act
    const bar = createProgress({ title: 'redrive orders', stream });
    bar.update(40, 100, 'transform');
    bar.stop();

    // Assess
    expect(drawn).toContain('redrive orders transform [');
    expect(drawn).toContain('40/100 (40%)');
    expect(createProgress({ title: 't', stream: tty(), json: true })).toBe(noProgress);
    expect(createProgress({ title: 't', stream: Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream })).toBe(noProgress);
  });
});

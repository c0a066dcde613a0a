import { describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { MAX_RECORD_BYTES } from '../../../functions/core/record-limits';
import { BackfillRequestError, createBackfillHandler, type BackfillChunkResult, type BackfillDeps } from '../../../functions/handlers/backfill-handler';
import { InvalidCursorError, type ScannedItem } from '../../../functions/ports';
import { InMemoryTableScanner } from '../../fixtures/scan-fakes';
import { fakeCaptureDeps, fakeStepContext } from '../../fixtures/step-context';
import { replicaFlow } from '../../fixtures/streams';

const QUEUE = 'https://sqs.local/people-transform';

const person = (id: string, extra: Record<string, unknown> = {}): ScannedItem => ({ record: { id, name: `name ${id}`, status: 'active', ...extra } });
const people = (n: number): ScannedItem[] => Array.from({ length: n }, (_, i) => person(`p${String(i).padStart(3, '0')}`));

function setup(items: readonly ScannedItem[], overrides: Partial<BackfillDeps> = {}, pageSize = 100) {
  const scanner = new InMemoryTableScanner(items, 'people-primary', pageSize);
  const step = fakeStepContext();
  const handler = createBackfillHandler({ ...fakeCaptureDeps(step, replicaFlow, 'primary', QUEUE), scanner, ...overrides });
  const { publisher, audit, quarantine, metrics, clock } = step;
  const sentIds = () => publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data?.id as string);
  return { handler, scanner, publisher, audit, quarantine, metrics, clock, sentIds };
}

describe('backfill handler: what it captures', () => {
  it('sends each item as an upsert snapshot with the source attributes applied, and audits it as a backfill capture', async () => {
    // Prepare
    const { handler, publisher, audit, metrics } = setup([person('a', { internal: 'secret' }), person('b')]);

    // Act
    const summary = await handler.all(2);

    // Assess
    expect(summary).toEqual({ flow: 'people', source: 'primary', table: 'people-primary', segments: 2, scanned: 2, sent: 2, filtered: 0, quarantined: 0, failed: 0 });
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.op, e.source, e.data]).sort()).toEqual([
      ['upsert', 'primary', { id: 'a', name: 'name a', status: 'active' }],
      ['upsert', 'primary', { id: 'b', name: 'name b', status: 'active' }],
    ]);
    expect(sent.every((e) => e.seq.startsWith('snapshot:'))).toBe(true);
    expect(audit.entries.map((e) => [e.outcome, e.key, e.detail]).sort()).toEqual([
      ['captured', 'a', { op: 'upsert', backfill: true }],
      ['captured', 'b', { op: 'upsert', backfill: true }],
    ]);
    expect(metrics.counts.Captured).toBe(2);
  });

  it('clocks each snapshot by when its page was read from, not when it was sent, so later stream changes win', async () => {
    // Prepare: reading the page takes 1.5 s, as a slow Scan would.
    const { handler, publisher, scanner, clock } = setup([person('a')]);
    clock.time = Date.UTC(2026, 0, 15, 12, 0, 0, 300);
    scanner.onPage = () => clock.advance(1500);

    // Act
    await handler.all(1);

    // Assess: 1 ms before the second the read began in, where stream records' rounded-down times start.
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.ts)).toEqual([Date.UTC(2026, 0, 15, 12, 0, 0) - 1]);
  });

  it('drops items the source filter rejects, as the stream capture does', async () => {
    const { handler, sentIds } = setup([person('a'), person('d', { status: 'draft' }), person('b', { status: 'blocked' })]);
    const summary = await handler.all(1);
    expect(summary).toMatchObject({ scanned: 3, sent: 2, filtered: 1 });
    expect(sentIds().sort()).toEqual(['a', 'b']);
  });

  it('quarantines unreadable, keyless and oversized items with their scan position, masked, and still sends the rest', async () => {
    // Prepare
    const { handler, quarantine, audit, sentIds } = setup([
      { error: 'item cannot be unmarshalled: number 1e400 is not finite' },
      { record: { name: 'no id', status: 'active', email: 'ann@example.com' } },
      person('big', { blob: 'x'.repeat(MAX_RECORD_BYTES) }),
      person('ok'),
    ]);

    // Act
    const summary = await handler.all(1);

    // Assess
    expect(summary).toMatchObject({ scanned: 4, sent: 1, quarantined: 3, failed: 0 });
    expect(sentIds()).toEqual(['ok']);
    const items = (await quarantine.list('people')).items.sort((a, b) => (a.position ?? '').localeCompare(b.position ?? ''));
    expect(items.map((i) => [i.position, i.reason])).toEqual([
      ['people-primary scan segment 0/1 page 0 item 0', 'item cannot be unmarshalled: number 1e400 is not finite'],
      ['people-primary scan segment 0/1 page 0 item 1', 'missing key field(s) id'],
      ['people-primary scan segment 0/1 page 0 item 2', expect.stringMatching(/larger than/)],
    ]);
    expect(JSON.stringify(items)).not.toContain('ann@example.com');
    expect(items[2]!.envelope.key).toBe('big');
    expect(audit.outcomes().sort()).toEqual(['captured', 'quarantined', 'quarantined', 'quarantined']);
  });

  it('keeps one quarantine item per bad item when a backfill runs again over the same table', async () => {
    // Prepare
    const { handler, quarantine, clock } = setup([{ error: 'item cannot be unmarshalled: number 1e400 is not finite' }, { record: { name: 'no id', status: 'active' } }, person('ok')]);

    // Act: two runs, an hour apart.
    await handler.all(1);
    clock.advance(3_600_000);
    await handler.all(1);

    // Assess
    expect((await quarantine.list('people')).items).toHaveLength(2);
  });

  it('sends identical items once', async () => {
    const { handler, publisher } = setup([person('a'), person('a')]);
    const summary = await handler.all(1);
    expect(summary).toMatchObject({ scanned: 2, sent: 1 });
    expect(publisher.bodies(QUEUE)).toHaveLength(1);
  });

  it('counts snapshots the queue refuses as failed and does not audit them as captured', async () => {
    const { handler, publisher, audit } = setup([person('a'), person('b')]);
    publisher.failWhen = (m) => (JSON.parse(m.body) as ChangeEnvelope).data?.id === 'b';
    const summary = await handler.all(1);
    expect(summary).toMatchObject({ scanned: 2, sent: 1, failed: 1 });
    expect(audit.entries.map((e) => e.key)).toEqual(['a']);
  });
});

describe('backfill handler: chunks', () => {
  it('resumes from the cursor with exactly the remaining items, so a loop over segments delivers every item once', async () => {
    // Prepare
    const items = people(23);
    const { handler, scanner, sentIds } = setup(items);
    const answers: BackfillChunkResult[] = [];

    // Act: 3 segments, at most 4 items a chunk, each segment followed to its end.
    for (let segment = 0; segment < 3; segment++) {
      let cursor: string | undefined;
      do {
        const answer = await handler.chunk({ segment, totalSegments: 3, maxItems: 4, ...(cursor ? { cursor } : {}) });
        answers.push(answer);
        cursor = answer.cursor;
      } while (cursor);
    }

    // Assess
    expect(answers.every((a) => a.scanned <= 4 && a.approximateItems === 23 && a.totalSegments === 3)).toBe(true);
    expect(answers.filter((a) => a.cursor === undefined).map((a) => a.segment)).toEqual([0, 1, 2]);
    expect(answers.reduce((n, a) => n + a.sent, 0)).toBe(23);
    expect(sentIds().sort()).toEqual(items.map((i) => i.record!.id).sort());
    // The second chunk of segment 0 starts where the first ended.
    const seg0 = items.filter((_, i) => i % 3 === 0).map((i) => i.record!.id);
    expect(sentIds().slice(0, 8)).toEqual(seg0.slice(0, 8));
    expect(scanner.requests[1]).toMatchObject({ segment: 0, totalSegments: 3, cursor: answers[0]!.cursor, limit: 4 });
  });

  it('answers the chunk contract fields, with a cursor only while the segment has more', async () => {
    const { handler } = setup(people(5));
    const first = await handler.chunk({ segment: 0, totalSegments: 1, maxItems: 3 });
    expect(first).toEqual({ flow: 'people', source: 'primary', table: 'people-primary', segment: 0, totalSegments: 1, scanned: 3, sent: 3, filtered: 0, quarantined: 0, failed: 0, cursor: expect.any(String), approximateItems: 5 });
    const last = await handler.chunk({ segment: 0, totalSegments: 1, cursor: first.cursor });
    expect(last).toMatchObject({ scanned: 2, sent: 2 });
    expect(last).not.toHaveProperty('cursor');
  });

  it('stops early with a cursor when the time budget runs low, and the next chunk goes on from there', async () => {
    // Prepare: each page takes 3 s; 10 s left and a 1 s reserve: after 2 pages less than two pages' time is left.
    const items = people(10);
    const { handler, scanner, clock, sentIds } = setup(items, { reserveMs: 1000 }, 2);
    scanner.onPage = () => clock.advance(3000);
    const deadline = clock.now() + 10_000;

    // Act
    const first = await handler.chunk({ segment: 0, totalSegments: 1 }, { getRemainingTimeInMillis: () => deadline - clock.now() });
    const rest = await handler.chunk({ segment: 0, totalSegments: 1, cursor: first.cursor });

    // Assess
    expect(first).toMatchObject({ scanned: 4, sent: 4, cursor: expect.any(String) });
    expect(rest).toMatchObject({ scanned: 6, sent: 6 });
    expect(rest.cursor).toBeUndefined();
    expect(sentIds()).toEqual(items.map((i) => i.record!.id));
  });

  it('reads at least one page even with no time left, so a caller looping on the cursor progresses', async () => {
    const { handler } = setup(people(6), { remainingMs: () => 0 }, 2);
    const answer = await handler.chunk({ segment: 0, totalSegments: 1 });
    expect(answer).toMatchObject({ scanned: 2, cursor: expect.any(String) });
  });

  it('answers without approximateItems when the count cannot be read', async () => {
    const { handler, scanner } = setup(people(2));
    scanner.failCount = true;
    const answer = await handler.chunk({ segment: 0, totalSegments: 1 });
    expect(answer).toMatchObject({ scanned: 2, sent: 2 });
    expect(answer).not.toHaveProperty('approximateItems');
  });
});

describe('backfill handler: bad requests', () => {
  it.each([
    [{ segment: 2, totalSegments: 2 }, /segment: segment must be below totalSegments/],
    [{ segment: 0, totalSegments: 0 }, /totalSegments:/],
    [{ segment: -1, totalSegments: 2 }, /segment:/],
    [{ segment: 0.5, totalSegments: 2 }, /segment:/],
    [{ segment: 0, totalSegments: 2, maxItems: 0 }, /maxItems:/],
    [{ segment: 0, totalSegments: 2, cursor: '' }, /cursor:/],
    [{ segment: 0, totalSegments: 2, cursor: 7 }, /cursor:/],
    [{ segment: 0, totalSegments: 2, limit: 5 }, /limit/],
    [undefined, /expected \{"segment": 0, "totalSegments": 4/],
  ])('refuses chunk %j with a clear message and reads nothing', async (request, message) => {
    const { handler, scanner } = setup(people(2));
    const err = await handler.chunk(request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackfillRequestError);
    expect((err as Error).message).toMatch(message);
    expect(scanner.requests).toEqual([]);
  });

  it('refuses a cursor the scanner did not give for that segment, before sending anything', async () => {
    const { handler, publisher } = setup(people(6), {}, 2);
    const first = await handler.chunk({ segment: 0, totalSegments: 2, maxItems: 2 });
    expect(first.cursor).toBeDefined();
    const calls = publisher.calls;
    await expect(handler.chunk({ segment: 1, totalSegments: 2, cursor: first.cursor })).rejects.toThrow(InvalidCursorError);
    expect(publisher.calls).toBe(calls);
  });

  it('runs a direct invocation for its own source only', async () => {
    const { handler } = setup(people(2));
    await expect(handler.invoke({ action: 'backfill', sourceId: 'primary', segment: 0, totalSegments: 1 })).resolves.toMatchObject({ scanned: 2, sent: 2 });
    await expect(handler.invoke({ action: 'backfill', sourceId: 'quiet', segment: 0, totalSegments: 1 })).rejects.toThrow('this function captures source "primary" of flow "people", not "quiet"');
    await expect(handler.invoke({ action: 'pull', sourceId: 'primary', segment: 0, totalSegments: 1 })).rejects.toThrow(/not a DynamoDB stream event or a backfill request: expected \{"action": "backfill", "sourceId": "primary"/);
  });
});

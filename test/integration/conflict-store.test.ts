import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClientFor } from '../../functions/adapters/clients';
import { DynamoDbConflictStore } from '../../functions/adapters/dynamodb-conflict-store';
import type { Conflict } from '../../functions/core/merge';
import { settleConflict } from '../../functions/handlers/conflict-review';
import { CONFLICT_OPEN_INDEX } from '../../functions/plan/store-tables';
import { FakePublisher } from '../fixtures/fakes';
import { manualFlow } from '../fixtures/flows';
import { createStoreTables, integrationClients, uniqueSuffix } from '../support/local-servers';

const RETENTION_DAYS = 30;

const conflict = (flow: string, id: string): Conflict => ({
  id,
  flow,
  key: `k-${id}`,
  field: 'email',
  current: { value: 'a@example.com', source: 'crm', clock: { ts: 1, src: 'crm', seq: '1', id: `e-${id}-1` } },
  incoming: { value: 'b@example.com', source: 'erp', clock: { ts: 2, src: 'erp', seq: '1', id: `e-${id}-2` } },
});

describe('DynamoDbConflictStore against DynamoDB Local', () => {
  const clients = integrationClients();
  const doc = documentClientFor(clients.dynamodb);
  let tables: Awaited<ReturnType<typeof createStoreTables>>;
  let store: DynamoDbConflictStore;
  // Items as stored, to see the TTL attribute the store keeps out of what it answers.
  const raw = async (flow: string, id: string) => (await doc.send(new GetCommand({ TableName: tables.conflicts, Key: { pk: flow, sk: id }, ConsistentRead: true }))).Item;
  const ids = (cs: readonly { id: string }[]) => cs.map((c) => c.id);

  beforeAll(async () => {
    tables = await createStoreTables(clients);
    store = new DynamoDbConflictStore({ client: doc, tableName: tables.conflicts, retentionDays: RETENTION_DAYS });
  });
  afterAll(() => clients.destroy());

  it('lists a conflict as open until it is resolved, then as resolved with an expiry; a reopen lists it open again without one', async () => {
    // Prepare
    const flow = `people-${uniqueSuffix()}`;
    const openedAt = Date.now();
    const resolvedAt = openedAt + 1000;
    await store.open([conflict(flow, 'c1')], openedAt);

    // Act / Assess: open
    expect(ids(await store.list(flow, 'open'))).toEqual(['c1']);
    expect((await raw(flow, 'c1'))?.expiresAt).toBeUndefined();

    // Act / Assess: resolved
    expect(await store.markResolved(flow, 'c1', { resolvedAt, resolvedBy: 'alice', choice: { choose: 'incoming' }, changeId: 'ch1' })).toBe(true);
    expect(await store.list(flow, 'open')).toEqual([]);
    const resolved = await store.list(flow, 'resolved');
    expect(resolved).toEqual([expect.objectContaining({ id: 'c1', status: 'resolved', resolvedBy: 'alice', openedAt })]);
    expect(resolved[0]).not.toHaveProperty('expiresAt');
    expect((await raw(flow, 'c1'))?.expiresAt).toBe(Math.floor(resolvedAt / 1000) + RETENTION_DAYS * 86_400);

    // Act / Assess: reopened (its change could not be sent)
    await store.reopen(flow, 'c1', 'ch1');
    expect(await store.list(flow, 'open')).toEqual([expect.objectContaining({ id: 'c1', status: 'open', openedAt })]);
    expect(await store.list(flow, 'resolved')).toEqual([]);
    expect((await raw(flow, 'c1'))?.expiresAt).toBeUndefined();
    expect(await store.get(flow, 'c1')).toMatchObject({ status: 'open' });
  });

  it('lists a superseded conflict as superseded, not open, with an expiry after the retention', async () => {
    // Prepare
    const flow = `people-${uniqueSuffix()}`;
    const at = Date.now();
    await store.open([conflict(flow, 'c1'), conflict(flow, 'c2')], at);

    // Act
    const superseded = await store.markSuperseded(flow, 'c1', at + 500);

    // Assess
    expect(superseded).toBe(true);
    expect(ids(await store.list(flow, 'open'))).toEqual(['c2']);
    expect(await store.list(flow, 'superseded')).toEqual([expect.objectContaining({ id: 'c1', status: 'superseded', supersededAt: at + 500 })]);
    expect((await raw(flow, 'c1'))?.expiresAt).toBe(Math.floor((at + 500) / 1000) + RETENTION_DAYS * 86_400);
    expect((await raw(flow, 'c2'))?.expiresAt).toBeUndefined();
    expect(await store.markSuperseded(flow, 'c1', at + 600)).toBe(false);
  });

  it('lists only the open conflicts of a flow, oldest first, however many are closed, and none of another flow', async () => {
    // Prepare: 300 closed conflicts around 3 open ones, and an open one of another flow.
    const flow = `people-${uniqueSuffix()}`;
    const other = `orders-${uniqueSuffix()}`;
    const t0 = Date.now();
    const closed = Array.from({ length: 300 }, (_, i) => conflict(flow, `closed-${i}`));
    await store.open(closed, t0);
    await store.open([conflict(flow, 'open-b')], t0 + 2);
    await store.open([conflict(flow, 'open-a')], t0 + 1);
    await store.open([conflict(flow, 'open-c')], t0 + 3);
    await store.open([conflict(other, 'elsewhere')], t0);
    await Promise.all(
      closed.map((c, i) =>
        i % 2 === 0
          ? store.markResolved(flow, c.id, { resolvedAt: t0 + 10, resolvedBy: 'sweep', choice: { choose: 'current' }, changeId: `ch-${i}` })
          : store.markSuperseded(flow, c.id, t0 + 10),
      ),
    );

    // Act
    const open = await store.list(flow, 'open');
    const all = await store.list(flow);

    // Assess
    expect(ids(open)).toEqual(['open-a', 'open-b', 'open-c']);
    expect(open.every((c) => c.status === 'open' && c.flow === flow)).toBe(true);
    expect(all).toHaveLength(303);
    expect((await store.list(flow, 'resolved')).length).toBe(150);
    expect(ids(await store.list(other, 'open'))).toEqual(['elsewhere']);
    // The open listing reads the index, which holds the open conflicts only: none of the closed ones is paid for.
    const read = await doc.send(new QueryCommand({ TableName: tables.conflicts, IndexName: CONFLICT_OPEN_INDEX, KeyConditionExpression: 'openFlow = :f', ExpressionAttributeValues: { ':f': flow } }));
    expect(read.ScannedCount).toBe(3);
  });

  it('pages through open conflicts oldest first, each once, reading one page of the index at a time; and closed ones alike', async () => {
    // Prepare: 130 open conflicts, opened 10 at a time (as one resolve batch opens them); 30 of them then resolved.
    const flow = `paged-${uniqueSuffix()}`;
    const t0 = Date.now();
    const all = Array.from({ length: 130 }, (_, i) => conflict(flow, `c-${String(i).padStart(3, '0')}`));
    for (let i = 0; i < all.length; i += 10) await store.open(all.slice(i, i + 10), t0 + i);
    await Promise.all(all.slice(100).map((c) => store.markResolved(flow, c.id, { resolvedAt: t0 + 500, resolvedBy: 'bob', choice: { choose: 'current' }, changeId: `ch-${c.id}` })));
    const pageThrough = async (status: 'open' | 'resolved', limit: number) => {
      const pages: string[][] = [];
      let after: { openedAt: number; id: string } | undefined;
      for (;;) {
        const page = await store.list(flow, status, { limit, ...(after ? { after } : {}) });
        pages.push(ids(page));
        if (page.length < limit) return pages;
        after = { openedAt: page.at(-1)!.openedAt, id: page.at(-1)!.id };
      }
    };

    // Act
    const open = await pageThrough('open', 15);
    const resolved = await pageThrough('resolved', 15);

    // Assess: oldest first, ties (one batch) in a steady order, every conflict exactly once.
    expect(open.map((p) => p.length)).toEqual([15, 15, 15, 15, 15, 15, 10]);
    expect(open.flat().sort()).toEqual(ids(all.slice(0, 100)).sort());
    const openedAt = new Map(all.map((c, i) => [c.id, t0 + Math.floor(i / 10) * 10]));
    const times = open.flat().map((id) => openedAt.get(id)!);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(resolved.map((p) => p.length)).toEqual([15, 15, 0]);
    expect(resolved.flat()).toEqual(ids(all.slice(100)));
  });

  it('counts the open conflicts of a flow past the 1 MB a Query call reads, and lists those opened from a given time', async () => {
    // Prepare: 15 open conflicts holding 100 KB each (over 1 MB in all), 2 then closed, and one of another flow.
    const flow = `counted-${uniqueSuffix()}`;
    const t0 = Date.now();
    const big = (id: string): Conflict => ({ ...conflict(flow, id), incoming: { ...conflict(flow, id).incoming, value: 'x'.repeat(100_000) } });
    const all = Array.from({ length: 15 }, (_, i) => big(`c-${String(i).padStart(2, '0')}`));
    for (const [i, c] of all.entries()) await store.open([c], t0 + i);
    await store.markSuperseded(flow, all[3]!.id, t0 + 100);
    await store.markResolved(flow, all[12]!.id, { resolvedAt: t0 + 100, resolvedBy: 'bob', choice: { choose: 'current' }, changeId: 'ch-12' });
    await store.open([conflict(`${flow}-other`, 'elsewhere')], t0);

    // Act
    const count = await store.countOpen(flow);
    const fromTen = await store.list(flow, 'open', { limit: 100, from: t0 + 10 });

    // Assess
    expect(count).toBe(13);
    expect(await store.countOpen(flow, () => true)).toBeUndefined();
    expect(ids(fromTen)).toEqual(['c-10', 'c-11', 'c-13', 'c-14']);
  });

  it('stores a conflict too large for one item without its values, saying so, where DynamoDB would refuse it whole', async () => {
    // Prepare: two sides of 220 KB each.
    const flow = `large-${uniqueSuffix()}`;
    const base = conflict(flow, 'big');
    const large: Conflict = { ...base, current: { ...base.current, value: 'a'.repeat(220_000) }, incoming: { ...base.incoming, value: 'b'.repeat(220_000) } };

    // Act
    const created = await store.open([large, conflict(flow, 'small')], Date.now());

    // Assess
    expect(created.sort()).toEqual(['big', 'small']);
    const stored = await store.get(flow, 'big');
    expect(stored).toMatchObject({ status: 'open', field: 'email', current: { source: 'crm' }, incoming: { source: 'erp' }, omitted: expect.stringMatching(/^values not kept: with them the conflict would be 4\d\d KB/) });
    expect(stored!.current).not.toHaveProperty('value');
    expect((await store.get(flow, 'small'))!.incoming.value).toBe('b@example.com');
    expect(ids(await store.list(flow, 'open')).sort()).toEqual(['big', 'small']);

    // Act: a reviewer gives a 300 KB value for the large one (the item is near 400 KB already).
    const resolved = await store.markResolved(flow, 'big', { resolvedAt: Date.now(), resolvedBy: 'alice', choice: { value: 'v'.repeat(300_000) }, changeId: 'ch-big' });

    // Assess: resolved, the value noted by its size only (the change carries it).
    expect(resolved).toBe(true);
    expect(await store.get(flow, 'big')).toMatchObject({ status: 'resolved', choice: { omitted: expect.stringMatching(/^a given value of 293 KB/) } });
  });

  it('lets only one of two resolutions of sibling conflicts (one field of one record) at the same moment through, and sends only its change', async () => {
    // Prepare: two edits parked on the same field of one record; a reviewer and the sweep each pass their checks
    // (neither sibling resolved) before either writes.
    const flow = manualFlow.id;
    const key = `k-${uniqueSuffix()}`;
    const [a, b] = ['a', 'b'].map((n) => ({ ...conflict(flow, `${key}-${n}`), key }));
    await store.open([a!, b!], Date.now());
    const publisher = new FakePublisher();
    const target = { flow: manualFlow, resolveQueueUrl: 'https://sqs.local/resolve' };
    const settle = (c: Conflict, sibling: Conflict, by: string) =>
      settleConflict({ conflicts: store, publisher }, { target, conflict: { ...c, status: 'open', openedAt: 1 }, choice: { choose: 'incoming' }, by, siblings: [sibling.id] });

    // Act
    const answers = await Promise.all([settle(a!, b!, 'alice'), settle(b!, a!, 'syncline:auto-resolve')]);

    // Assess
    expect(answers.map((x) => x.status).sort()).toEqual([202, 409]);
    expect(publisher.bodies(target.resolveQueueUrl)).toHaveLength(1);
    const statuses = await Promise.all([a!, b!].map(async (c) => (await store.get(flow, c.id))!.status));
    expect(statuses.sort()).toEqual(['open', 'resolved']);
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { storableCopy } from '../../functions/core/json-safety';
import { replayable } from '../../functions/handlers/quarantine-replay';
import { STORE_TABLES } from '../../functions/plan/store-tables';
import type { QuarantineCursor, QuarantineItem } from '../../functions/ports';
import { ensureTable, storeTableInput } from '../../lib/local/resources';
import { createStoreTables, integrationClients } from '../support/local-servers';

describe('quarantine store against DynamoDB Local', () => {
  const clients = integrationClients();
  let store: DynamoDbQuarantineStore;

  beforeAll(async () => {
    const tables = await createStoreTables(clients);
    store = new DynamoDbQuarantineStore({ client: clients.doc, tableName: tables.quarantine });
  });
  afterAll(() => clients.destroy());

  const item = (id: string, record: Record<string, unknown>): QuarantineItem => ({
    flow: 'contacts',
    id,
    source: 'crm',
    at: 1_000,
    reason: 'schema validation failed',
    errors: ['/age must be number'],
    record,
    envelope: { v: 1, id, flow: 'contacts', source: 'crm', key: '', op: 'upsert', ts: 1_000, seq: id, lineage: [{ step: 'transform', at: 1_000, outcome: 'quarantined' }] },
    position: `${id}#000`,
  });

  it('keeps a record too large for an item out of it, says why, and stores its batch-mate whole', async () => {
    // Prepare: a record DynamoDB would refuse in one item (records up to 4 MB are carried).
    const large = item('q-large', { id: 'l', notes: randomBytes(300 * 1024).toString('base64') });
    const small = item('q-small', { id: 's', age: 'old' });

    // Act
    await store.put([large, small]);

    // Assess
    const stored = new Map((await store.list('contacts')).items.map((i) => [i.id, i]));
    expect(stored.get('q-small')).toEqual(small);
    expect(stored.get('q-large')).toMatchObject({ reason: 'schema validation failed', position: 'q-large#000', record: {}, dropped: expect.stringMatching(/^the record is not kept: with it the item would be \d+ KB/) });
    expect([replayable(stored.get('q-small')!), replayable(stored.get('q-large')!)]).toEqual([true, false]);
  });

  it('stores a record with a field name longer than DynamoDB takes, under a short name that gives its size and start', async () => {
    // Prepare: a capture quarantines the record (its name is over 32 KB); its stored copy must fit DynamoDB (names < 64 KB).
    const name = 'f'.repeat(70_000);
    const refused = item('q-name', storableCopy({ id: 'ln', [name]: 1 }));

    // Act
    await store.put([refused]);

    // Assess
    const stored = (await store.list('contacts')).items.find((i) => i.id === 'q-name');
    expect(stored?.record).toEqual({ id: 'ln', [`(name of 70000 bytes: ${'f'.repeat(32)}...)`]: 1 });
  });

  it('sizes an item as DynamoDB does, not as JSON: small numbers take more room there, booleans less', async () => {
    // Prepare: 332 KB as JSON but over 400 KB in DynamoDB; and 635 KB as JSON but about 260 KB in DynamoDB.
    const digits = item('q-digits', { id: 'd', a: Array.from({ length: 170_000 }, (_, i) => i % 10) });
    const flags = item('q-flags', { id: 'f', a: Array.from({ length: 130_000 }, () => true) });

    // Act
    await store.put([digits, flags]);

    // Assess
    const stored = new Map((await store.list('contacts')).items.map((i) => [i.id, i]));
    expect(stored.get('q-digits')).toMatchObject({ record: {}, dropped: expect.any(String) });
    expect(stored.get('q-flags')).toEqual(flags);
  });

  /** Every item of a flow, page by page, as the listing hands them out. */
  async function pageThrough(from: DynamoDbQuarantineStore, flow: string, limit: number, between?: (items: QuarantineItem[]) => Promise<void>): Promise<QuarantineItem[][]> {
    const pages: QuarantineItem[][] = [];
    let before: QuarantineCursor | undefined;
    do {
      const page = await from.list(flow, { limit, ...(before ? { before } : {}) });
      pages.push(page.items);
      await between?.(page.items);
      before = page.next;
    } while (before);
    return pages;
  }

  const timed = (flow: string, n: number): QuarantineItem[] =>
    // Times repeat (every third item shares one), as records quarantined by one batch do.
    Array.from({ length: n }, (_, i) => ({ ...item(`q-${String(i).padStart(3, '0')}`, { id: i }), flow, at: 10_000 + Math.floor(i / 3) }));

  it('pages through a flow newest first, each item once, also while a replay removes the items already listed', async () => {
    // Prepare
    const items = timed('paged', 250);
    await store.put(items);

    // Act: the second walk deletes each page before reading the next, as `quarantine replay --all` does.
    const pages = await pageThrough(store, 'paged', 40);
    const removing = await pageThrough(store, 'paged', 40, async (page) => void (await store.delete(page)));

    // Assess
    expect(pages.map((p) => p.length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
    const ats = pages.flat().map((i) => i.at);
    expect(ats).toEqual([...ats].sort((a, b) => b - a));
    expect(pages.flat().map((i) => i.id).sort()).toEqual(items.map((i) => i.id).sort());
    expect(removing.flat().map((i) => i.id).sort()).toEqual(items.map((i) => i.id).sort());
    expect((await store.list('paged')).items).toEqual([]);
  });

  it('fills a page past the 1 MB a DynamoDB query answers at most', async () => {
    // Prepare: 600 items of about 3 KB, 1.8 MB in all.
    const items = timed('large', 600).map((i) => ({ ...i, record: { id: i.id, notes: 'n'.repeat(3000) } }));
    await store.put(items);

    // Act
    const whole = await store.list('large', { limit: 1000 });
    const part = await store.list('large', { limit: 500 });

    // Assess
    expect(whole.items).toHaveLength(600);
    expect(whole.next).toBeUndefined();
    expect(part.items).toHaveLength(500);
    expect(part.next).toEqual({ at: part.items[499]!.at, id: part.items[499]!.id });
  });

  it('gets items by id, and lists from the table itself when it has no time index (a table an earlier release created)', async () => {
    // Prepare: a quarantine table without the index, as `--persist` keeps it from an earlier release.
    const plan = STORE_TABLES.find((t) => t.id === 'quarantine')!;
    const bare = `it-bare-${Date.now()}-quarantine`;
    await ensureTable(clients.dynamodb, storeTableInput({ ...plan, indexes: [] }, bare), plan.ttlAttribute);
    const old = new DynamoDbQuarantineStore({ client: clients.doc, tableName: bare });
    const items = timed('paged', 25);
    await old.put(items);

    // Act
    const pages = await pageThrough(old, 'paged', 10);
    const got = await old.get('paged', ['q-003', 'q-024', 'q-999', 'q-003']);

    // Assess
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(pages.flat().map((i) => i.id)).toEqual([...items].reverse().map((i) => i.id));
    expect(got.map((i) => i.id).sort()).toEqual(['q-003', 'q-024']);
  });
});

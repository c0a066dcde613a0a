import { BatchWriteItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbTableScanner } from '../../functions/adapters/dynamodb-table-scanner';
import { InexactNumber } from '../../functions/core/json-safety';
import { InvalidCursorError, type ScanPageRequest } from '../../functions/ports';
import { ensureTable } from '../../lib/local/resources';
import { integrationClients, uniqueSuffix } from '../support/local-servers';

const ITEMS = 120;

describe('DynamoDbTableScanner against DynamoDB Local', () => {
  const clients = integrationClients();
  const suffix = uniqueSuffix();
  const orders = `it-${suffix}-orders`;
  const blobs = `it-${suffix}-blobs`;

  const put = (items: Record<string, AttributeValue>[], table = orders) =>
    Promise.all(
      Array.from({ length: Math.ceil(items.length / 25) }, (_, i) =>
        clients.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: items.slice(i * 25, i * 25 + 25).map((Item) => ({ PutRequest: { Item } })) } })),
      ),
    );

  /** Reads a segment page by page from `cursor` to its end; answers the ids in order. */
  const readSegment = async (scanner: DynamoDbTableScanner, request: ScanPageRequest): Promise<string[]> => {
    const ids: string[] = [];
    let cursor = request.cursor;
    do {
      const page = await scanner.scanPage({ ...request, ...(cursor ? { cursor } : {}) });
      ids.push(...page.items.map((i) => `${i.record!.customer}/${i.record!.order}`));
      cursor = page.cursor;
    } while (cursor);
    return ids;
  };

  beforeAll(async () => {
    // Prepare: a table with a composite key (2-attribute cursors) and one with a binary key.
    await ensureTable(clients.dynamodb, {
      TableName: orders,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'customer', AttributeType: 'S' },
        { AttributeName: 'order', AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: 'customer', KeyType: 'HASH' },
        { AttributeName: 'order', KeyType: 'RANGE' },
      ],
    });
    await ensureTable(clients.dynamodb, {
      TableName: blobs,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'B' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    });
    await put(Array.from({ length: ITEMS }, (_, i) => ({ customer: { S: `c${i % 17}` }, order: { N: String(i) }, tags: { SS: ['b', 'a'] } })));
    await put(Array.from({ length: 12 }, (_, i) => ({ id: { B: Buffer.from([i, 255, 0]) }, n: { N: String(i) } })), blobs);
  });
  afterAll(() => clients.destroy());

  it('reads every item exactly once across segments and small pages, resuming each page from the previous cursor', async () => {
    // Prepare
    const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: orders });

    // Act
    const segments = await Promise.all([0, 1, 2].map((segment) => readSegment(scanner, { segment, totalSegments: 3, limit: 7 })));

    // Assess
    const all = segments.flat();
    expect(all).toHaveLength(ITEMS);
    expect(new Set(all).size).toBe(ITEMS);
    expect(segments.every((s) => s.length > 0)).toBe(true);
  });

  it('gives JSON-safe records, and resumes from a cursor with exactly the items after it', async () => {
    const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: orders });
    const whole = await readSegment(scanner, { segment: 1, totalSegments: 2, limit: 1000 });

    const first = await scanner.scanPage({ segment: 1, totalSegments: 2, limit: 5 });
    const rest = await readSegment(scanner, { segment: 1, totalSegments: 2, limit: 9, cursor: first.cursor! });

    expect(first.items).toHaveLength(5);
    expect(first.items[0]!.record).toMatchObject({ customer: expect.any(String), order: expect.any(Number), tags: ['a', 'b'] });
    expect([...first.items.map((i) => `${i.record!.customer}/${i.record!.order}`), ...rest]).toEqual(whole);
    expect(first.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('sees an item written just before the scan (consistent read)', async () => {
    await clients.dynamodb.send(new PutItemCommand({ TableName: orders, Item: { customer: { S: 'fresh' }, order: { N: '1' } } }));
    const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: orders });
    const all = (await Promise.all([0, 1].map((segment) => readSegment(scanner, { segment, totalSegments: 2 })))).flat();
    expect(all).toContain('fresh/1');
  });

  it('round-trips binary keys through the cursor', async () => {
    const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: blobs });
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await scanner.scanPage({ segment: 0, totalSegments: 1, limit: 5, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((i) => i.record!.n as number));
      cursor = page.cursor;
    } while (cursor);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('reads a number beyond a double with its digits, for the backfill to quarantine, without failing the page', async () => {
    const odd = `it-${suffix}-odd`;
    await ensureTable(clients.dynamodb, { TableName: odd, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] });
    await put([{ id: { S: 'huge' }, n: { N: '123456789012345678901234567890' } }, { id: { S: 'fine' }, n: { N: '1' } }], odd);
    const page = await new DynamoDbTableScanner({ client: clients.dynamodb, tableName: odd }).scanPage({ segment: 0, totalSegments: 1 });
    const byId = new Map(page.items.map((i) => [i.record?.id, i.record]));
    expect(byId.get('fine')).toEqual({ id: 'fine', n: 1 });
    expect(byId.get('huge')?.n).toBeInstanceOf(InexactNumber);
    expect((byId.get('huge')?.n as InexactNumber).text).toBe('123456789012345678901234567890');
  });

  it('counts the table items approximately (DescribeTable ItemCount)', async () => {
    const count = await new DynamoDbTableScanner({ client: clients.dynamodb, tableName: blobs }).approximateItemCount();
    expect(count).toBe(12);
  });

  it('refuses cursors it did not give for that segment and table, with a message saying what to pass', async () => {
    // Prepare
    const scanner = new DynamoDbTableScanner({ client: clients.dynamodb, tableName: orders });
    const { cursor } = await scanner.scanPage({ segment: 0, totalSegments: 2, limit: 3 });
    const blobCursor = (await new DynamoDbTableScanner({ client: clients.dynamodb, tableName: blobs }).scanPage({ segment: 0, totalSegments: 2, limit: 1 })).cursor!;
    const refused = (request: ScanPageRequest) => scanner.scanPage(request).then(() => new Error('the cursor was accepted'), (e: unknown) => e as Error);

    // Act
    const garbage = await refused({ segment: 0, totalSegments: 2, cursor: 'not a cursor' });
    const notJson = await refused({ segment: 0, totalSegments: 2, cursor: Buffer.from('{oops').toString('base64url') });
    const wrongShape = await refused({ segment: 0, totalSegments: 2, cursor: Buffer.from(JSON.stringify({ v: 1, segment: 0, totalSegments: 2, key: { customer: { M: {} } } })).toString('base64url') });
    const otherSegment = await refused({ segment: 1, totalSegments: 2, cursor: cursor! });
    const otherTable = await refused({ segment: 0, totalSegments: 2, cursor: blobCursor });

    // Assess
    for (const err of [garbage, notJson, wrongShape, otherSegment, otherTable]) expect(err).toBeInstanceOf(InvalidCursorError);
    expect(garbage.message).toBe('invalid cursor: it is not base64url; pass the cursor of the previous answer for segment 0 of 2, or none to start the segment over');
    expect(notJson.message).toMatch(/does not decode to JSON/);
    expect(wrongShape.message).toMatch(/key\.customer/);
    expect(otherSegment.message).toMatch(/it belongs to segment 0 of 2; pass the cursor of the previous answer for segment 1 of 2/);
    expect(otherTable.message).toMatch(new RegExp(`^cursor does not fit table ${orders}: `));
  });
});

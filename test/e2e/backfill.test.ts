import { BatchWriteItemCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import type { BackfillChunkResult } from '../../functions/handlers/backfill-handler';
import { waitFor } from '../support/local-servers';
import { getJson } from '../support/webhooks';

const TABLE = 'e2e-backfill-ledger';
const ITEMS = 45;
const SEGMENTS = 3;
const MAX_ITEMS = 4;

describe('chunked backfill through the local runtime', () => {
  let rt: Runtime;
  const logs: string[] = [];

  const post = async (path: string, body?: unknown) => {
    const res = await fetch(`${rt.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const replica = async () =>
    (await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows.ledger!.targetTables.replica, ConsistentRead: true }))).Items ?? [];

  beforeAll(async () => {
    rt = await startRuntime({
      config: parseConfig({ flows: [{ id: 'ledger', key: ['id'], sources: [{ id: 'table', type: 'dynamodb-stream', tableName: TABLE }], targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }] }] }, 'e2e backfill'),
      port: 0,
      visibilityTimeoutSeconds: 1,
      log: (l) => logs.push(l),
    });
    // Written while the stream is off, so only the backfill can bring these items to the target.
    await rt.clients.dynamodb.send(new UpdateTableCommand({ TableName: TABLE, StreamSpecification: { StreamEnabled: false } }));
    const items = Array.from({ length: ITEMS }, (_, i) => ({ id: { S: `e${String(i).padStart(2, '0')}` }, amount: { N: String(i * 10) } }));
    for (let i = 0; i < ITEMS; i += 25) {
      await rt.clients.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    await rt.clients.dynamodb.send(new UpdateTableCommand({ TableName: TABLE, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }));
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('delivers every item of the source table to the target once, chunk by chunk over several segments', async () => {
    // Act: each segment followed on its cursor, a few items at a time.
    const answers: BackfillChunkResult[] = [];
    for (let segment = 0; segment < SEGMENTS; segment++) {
      let cursor: string | undefined;
      do {
        const res = await post('/flows/ledger/sources/table/backfill', { segment, totalSegments: SEGMENTS, maxItems: MAX_ITEMS, ...(cursor ? { cursor } : {}) });
        expect(res.status).toBe(200);
        answers.push(res.json);
        cursor = res.json.cursor;
      } while (cursor);
    }

    // Assess: the answers.
    expect(answers.length).toBeGreaterThanOrEqual(Math.ceil(ITEMS / MAX_ITEMS));
    for (const a of answers) {
      expect(a).toMatchObject({ flow: 'ledger', source: 'table', table: TABLE, totalSegments: SEGMENTS, approximateItems: ITEMS, filtered: 0, quarantined: 0, failed: 0 });
      expect(a.scanned).toBeLessThanOrEqual(MAX_ITEMS);
    }
    expect(answers.reduce((n, a) => n + a.scanned, 0)).toBe(ITEMS);
    expect(answers.reduce((n, a) => n + a.sent, 0)).toBe(ITEMS);

    // Assess: the target holds every item, each captured once.
    const delivered = await waitFor(async () => {
      const items = await replica();
      return items.length === ITEMS ? items : undefined;
    }, `${ITEMS} items in the replica`);
    expect(delivered.map((i) => i.id).sort()).toEqual(Array.from({ length: ITEMS }, (_, i) => `e${String(i).padStart(2, '0')}`));
    expect(delivered.find((i) => i.id === 'e07')).toMatchObject({ amount: 70 });
    for (const key of delivered.map((i) => i.id as string)) {
      const lineage = (await getJson(`${rt.url}/flows/ledger/records/${key}/lineage`)).json as { step: string; outcome: string; detail?: Record<string, unknown> }[];
      expect(lineage.filter((e) => e.step === 'capture' && e.outcome === 'captured').map((e) => e.detail)).toEqual([{ op: 'upsert', backfill: true }]);
    }
  });

  it('answers 400 with the reason for a bad chunk or a cursor of another segment', async () => {
    const first = await post('/flows/ledger/sources/table/backfill', { segment: 0, totalSegments: 2, maxItems: 1 });
    expect(first.json.cursor).toEqual(expect.any(String));

    const otherSegment = await post('/flows/ledger/sources/table/backfill', { segment: 1, totalSegments: 2, cursor: first.json.cursor });
    const garbage = await post('/flows/ledger/sources/table/backfill', { segment: 0, totalSegments: 2, cursor: '%%%' });
    const outOfRange = await post('/flows/ledger/sources/table/backfill', { segment: 2, totalSegments: 2 });

    expect(otherSegment).toEqual({ status: 400, json: { message: expect.stringMatching(/^invalid cursor: it belongs to segment 0 of 2/) } });
    expect(garbage).toEqual({ status: 400, json: { message: expect.stringMatching(/^invalid cursor: it is not base64url/) } });
    expect(outOfRange).toEqual({ status: 400, json: { message: expect.stringMatching(/segment: segment must be below totalSegments/) } });
  });
});

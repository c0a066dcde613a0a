import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN_MARKER_ATTRIBUTE } from '../../functions/core/capture/dynamodb-stream';
import { canonicalJson } from '../../functions/core/envelope';
import { parseConfig } from '../../lib/config/load';
import type { SynclineConfigInput } from '../../functions/config/schema';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import {
  changeEvent,
  CONNECTORS,
  heartbeat,
  logicalMessage,
  schemaChange,
  T0,
  transactionBegin,
  transactionEnd,
  truncate,
  wrapped,
  type At,
  type Connector,
} from '../fixtures/debezium-connectors';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-debezium-secret-1').toString('base64');

/** One flow per connector, each under another conflict strategy, delivering to its own replica table. */
const STRATEGY: Record<Connector, string> = { postgresql: 'lww', mysql: 'field-lww', sqlserver: 'priority', oracle: 'manual', mongodb: 'lww' };
const flowId = (c: Connector) => `cdc-${c}`;

function config() {
  const flows: SynclineConfigInput['flows'] = CONNECTORS.map((c) => ({
    id: flowId(c),
    key: ['id'],
    sources: [{ id: 'db', type: 'webhook' as const, format: 'debezium' as const, table: { include: [c === 'oracle' ? '*.CUSTOMERS' : '*.customers'] } }],
    // MongoDB documents are keyed by `_id`.
    ...(c === 'mongodb' ? { transform: { rename: { _id: 'id' } } } : {}),
    conflict: STRATEGY[c] === 'priority' ? { strategy: 'priority' as const, priority: { '*': ['db'] } } : { strategy: STRATEGY[c] as 'lww' },
    targets: [{ id: 'replica', type: 'dynamodb' as const, keyAttribute: 'id' }],
  }));
  // A PostgreSQL source whose truncates delete the table's rows at the replica.
  flows.push({
    id: 'cdc-truncate',
    key: ['id'],
    sources: [{ id: 'db', type: 'webhook', format: 'debezium', onTruncate: 'delete' }],
    targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
  });
  return parseConfig({ flows }, 'e2e debezium fixture');
}

/** Rows of the source table as they end, after the sequence below. */
const FINAL = [
  { id: 1, name: 'Anne Marie', email: 'anne.marie@noanswer.org', bio: 'Bio of Anne' },
  { id: 2, name: 'Bob Jr', email: 'bob@noanswer.org', bio: 'A long biography of Bob, stored out of line' },
  { id: 3, name: 'Carl again', email: 'carl.again@noanswer.org', bio: null },
];
/** The replica's items: keyed by the record key, a string. */
const EXPECTED = FINAL.map((row) => ({ ...row, id: String(row.id) }));

/**
 * The requests Debezium Server's HTTP sink makes (batch mode) for: an initial snapshot, an insert, two updates of one row
 * in one transaction, a late snapshot read of that row (stamped later, at the snapshot's earlier position), an update
 * that leaves a TOASTed column unavailable (PostgreSQL and Oracle LOBs send the placeholder), a delete and its
 * tombstone, a re-insert, with heartbeats, transaction boundaries and schema changes (messages for PostgreSQL) between.
 */
function requests(c: Connector): unknown[][] {
  // PostgreSQL and SQL Server events come in the `{schema, payload}` wrapper (value.converter.schemas.enable=true).
  const ev = (op: 'r' | 'c' | 'u' | 'd', rows: { before?: Record<string, unknown> | null; after?: Record<string, unknown> | null }, at: At) =>
    c === 'postgresql' || c === 'sqlserver' ? wrapped(changeEvent(c, op, rows, at)) : changeEvent(c, op, rows, at);
  const anne = { id: 1, name: 'Anne', email: 'annek@noanswer.org', bio: 'Bio of Anne' };
  const bob = { id: 2, name: 'Bob', email: 'bob@noanswer.org', bio: 'A long biography of Bob, stored out of line' };
  const carl = { id: 3, name: 'Carl', email: 'carl@noanswer.org', bio: 'Carl' };
  const snapshot = { at: 0, ms: T0, snapshot: true };
  const toast = c === 'postgresql' || c === 'oracle';
  const notAChange = c === 'postgresql' ? logicalMessage({ at: 2, ms: T0 + 2_000 }) : schemaChange(c, { at: 2, ms: T0 + 2_000 });
  return [
    [ev('r', { after: bob }, { ...snapshot, inTx: 1 }), heartbeat(T0)],
    [
      transactionBegin('tx-1', T0 + 1_000),
      ev('c', { after: carl }, { at: 1, ms: T0 + 1_000 }),
      transactionEnd('tx-1', T0 + 1_000, 1, 'inventory.customers'),
      transactionBegin('tx-2', T0 + 2_000),
      ev('u', { before: anne, after: { ...anne, name: 'Anne Marie' } }, { at: 2, ms: T0 + 2_000, inTx: 1 }),
      ev('u', { before: { ...anne, name: 'Anne Marie' }, after: { ...FINAL[0] } }, { at: 2, ms: T0 + 2_000, inTx: 2 }),
      transactionEnd('tx-2', T0 + 2_000, 2, 'inventory.customers'),
      notAChange,
    ],
    // The snapshot read of row 1 arrives last, stamped when the table was read (5 minutes later), at the snapshot's position.
    [ev('r', { after: anne }, { ...snapshot, ms: T0 + 300_000 })],
    [ev('u', { before: toast ? null : bob, after: { ...bob, name: 'Bob Jr', ...(toast ? { bio: '__debezium_unavailable_value' } : {}) } }, { at: 3, ms: T0 + 3_000 })],
    [ev('d', { before: carl }, { at: 4, ms: T0 + 4_000 }), null, heartbeat(T0 + 4_500)],
    [ev('c', { after: FINAL[2] }, { at: 5, ms: T0 + 5_000 })],
    [heartbeat(T0 + 10_000)],
  ];
}

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime({ config: config(), port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => undefined });
});
afterAll(async () => {
  await rt?.stop();
});

describe.each(CONNECTORS)('Debezium %s through the local runtime', (connector) => {
  const flow = flowId(connector);

  it('a realistic sequence ends with the replica equal to the source table, nothing quarantined, no 5xx', async () => {
    const url = `${rt.url}/webhooks/${flow}/db`;
    const answers = [];
    for (const [i, body] of requests(connector).entries()) {
      answers.push(await postWebhook(url, body, { secret: SECRET }));
      // Queues do not keep order: the late read is sent once the updates before it are merged, so the lineage below is fixed.
      if (i === 1) await waitFor(async () => ((await getJson(`${rt.url}/flows/${flow}/records/1`)).json?.record?.name === 'Anne Marie' ? true : undefined), `${connector}: row 1 updated`);
    }
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
    // Heartbeats, transaction boundaries, the schema change or message, and the tombstone are skipped, not stored.
    expect(answers.map((a) => a.json.skipped ?? 0)).toEqual([1, 5, 0, 0, 2, 0, 1]);
    // A snapshot read, an insert, two updates, the late read, an update, a delete and a re-insert.
    expect(answers.reduce((n, a) => n + a.json.accepted, 0)).toBe(8);

    const table = rt.resources.flows[flow]!.targetTables.replica!;
    const rows = await waitFor(async () => {
      const items = ((await rt.clients.doc.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? []).map(({ [ORIGIN_MARKER_ATTRIBUTE]: _m, ...rest }) => rest);
      const sorted = items.sort((a, b) => Number(a.id) - Number(b.id));
      return canonicalJson(sorted) === canonicalJson(EXPECTED) ? sorted : undefined;
    }, `${connector}: replica equal to the source table`, 25_000).catch(async (err: unknown) => {
      const items = (await rt.clients.doc.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items;
      throw new Error(`${(err as Error).message}; replica holds ${JSON.stringify(items)}`);
    });
    expect(rows).toEqual(EXPECTED);
    expect((await getJson(`${rt.url}/flows/${flow}/quarantine`)).json).toEqual([]);
  });

  it('lineage shows the log position of each change, and the late snapshot read as superseded by the later position', async () => {
    type Entry = { step: string; outcome: string; reason?: string; detail?: Record<string, unknown> };
    const lineageOf = async () => (await getJson(`${rt.url}/flows/${flow}/records/1/lineage`)).json as Entry[];
    // The late read changes nothing at the replica, so its resolve entry may land after the replica settled.
    const lineage = await waitFor(async () => {
      const entries = await lineageOf();
      return entries.some((e) => e.step === 'resolve' && e.outcome === 'superseded') ? entries : undefined;
    }, `${connector}: the late snapshot read resolved`, 20_000);
    const captured = lineage.filter((e) => e.step === 'capture' && e.outcome === 'captured');
    expect(captured.length).toBe(3);
    for (const e of captured) expect(e.detail?.position).toEqual(expect.any(String));
    const superseded = lineage.filter((e) => e.step === 'resolve' && e.outcome === 'superseded').map((e) => e.reason);
    expect(superseded).toEqual([expect.stringMatching(/^earlier in db's log than ts=\S+ from db at \S+/)]);
  });
});

describe('Debezium TRUNCATE with onTruncate "delete" through the local runtime', () => {
  it('deletes the rows the table had at the replica, and keeps a row written after the truncate', async () => {
    // Prepare: three rows inserted, and replicated.
    const url = `${rt.url}/webhooks/cdc-truncate/db`;
    const table = rt.resources.flows['cdc-truncate']!.targetTables.replica!;
    const replica = async () =>
      (((await rt.clients.doc.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? []) as Record<string, unknown>[])
        .map(({ [ORIGIN_MARKER_ATTRIBUTE]: _m, ...rest }) => rest)
        .sort((a, b) => Number(a.id) - Number(b.id));
    const row = (id: number, name: string) => ({ id, name, email: `${name.toLowerCase()}@noanswer.org`, bio: null });
    const insert = (id: number, name: string, at: number) => wrapped(changeEvent('postgresql', 'c', { after: row(id, name) }, { at, ms: T0 + at * 1_000 }));
    const first = await postWebhook(url, [insert(1, 'Ada', 1), insert(2, 'Bea', 2), insert(3, 'Cy', 3)], { secret: SECRET });
    expect(first.status).toBe(202);
    await waitFor(async () => ((await replica()).length === 3 ? true : undefined), 'three rows replicated');

    // Act: TRUNCATE, then a row inserted after it; the insert may well be merged before the truncate's deletes.
    const answers = [
      await postWebhook(url, [wrapped(truncate('postgresql', { at: 4, ms: T0 + 4_000 }))], { secret: SECRET }),
      await postWebhook(url, [insert(2, 'Bea again', 5)], { secret: SECRET }),
    ];

    // Assess
    expect(answers.map((a) => [a.status, a.json.accepted])).toEqual([
      [202, 0],
      [202, 1],
    ]);
    const expected = [{ id: '2', name: 'Bea again', email: 'bea again@noanswer.org', bio: null }];
    const rows = await waitFor(async () => {
      const items = await replica();
      return canonicalJson(items) === canonicalJson(expected) ? items : undefined;
    }, 'the truncated rows deleted at the replica', 25_000).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}; replica holds ${JSON.stringify(await replica())}`);
    });
    expect(rows).toEqual(expected);
    const lineage = (await getJson(`${rt.url}/flows/cdc-truncate/records/1/lineage`)).json as { step: string; outcome: string; reason?: string }[];
    expect(lineage.filter((e) => e.step === 'resolve').map((e) => [e.outcome, e.reason])).toEqual([
      ['won', expect.any(String)],
      ['won', 'deleted'],
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../../functions/core/envelope';
import { compareClock, mergeChanges } from '../../../../functions/core/merge';
import { flowSchema, type FlowConfig } from '../../../../functions/config/schema';
import { positionOf } from '../../../../functions/core/capture/debezium-position';

/** One Debezium source (`db`, with log positions) and one webhook source without (`crm`), under each strategy. */
function flowWith(strategy: string): FlowConfig {
  return flowSchema.parse({
    id: 'customers',
    key: ['id'],
    sources: [
      { id: 'db', type: 'webhook', format: 'debezium' },
      { id: 'crm', type: 'webhook' },
    ],
    targets: [{ id: 'out', type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:123456789012:out' }],
    conflict: strategy === 'priority' ? { strategy, priority: { '*': ['db', 'crm'] } } : { strategy },
  });
}
const STRATEGIES = ['lww', 'field-lww', 'priority', 'manual'];

let n = 0;
function change(source: string, ts: number, data: Record<string, unknown> | null, extra: { pos?: string; keep?: string[] } = {}): ChangeEnvelope {
  const id = `e${++n}`;
  return {
    v: 1,
    id,
    flow: 'customers',
    source,
    key: '1',
    op: data ? 'upsert' : 'delete',
    ...(data ? { data } : {}),
    ts,
    seq: extra.pos ?? id,
    ...(extra.pos ? { pos: extra.pos } : {}),
    ...(extra.keep ? { keep: extra.keep } : {}),
    lineage: [],
  };
}

/** Every order of the changes (up to 4). */
function orders<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => orders([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('compareClock with log positions', () => {
  const order = ['db', 'crm'];
  it('orders two clocks of one source by position before ts', () => {
    const early = { ts: 9_000, src: 'db', seq: 's', id: 'a', pos: 'binlog:0001:0154' };
    const late = { ts: 1_000, src: 'db', seq: 's', id: 'b', pos: 'binlog:0001:0484' };
    expect(compareClock(late, early, order)).toBeGreaterThan(0);
  });
  it('orders clocks of different sources by ts, whatever their positions', () => {
    const db = { ts: 1_000, src: 'db', seq: 's', id: 'a', pos: 'lsn:9' };
    const crm = { ts: 2_000, src: 'crm', seq: 's', id: 'b', pos: 'lsn:1' };
    expect(compareClock(crm, db, order)).toBeGreaterThan(0);
  });
  it('orders by ts when one of two clocks of a source has no position', () => {
    const a = { ts: 1_000, src: 'db', seq: 's', id: 'a', pos: 'lsn:9' };
    const b = { ts: 2_000, src: 'db', seq: 's', id: 'b' };
    expect(compareClock(b, a, order)).toBeGreaterThan(0);
  });
});

describe.each(STRATEGIES)('log positions under %s', (strategy) => {
  const flow = flowWith(strategy);

  it('a late snapshot read never overrides a streamed update at a later position, in any order', () => {
    // Streamed update committed at 10:00:01 at binlog 484; the table's snapshot read, stamped 10:05, saw position 154.
    const streamed = change('db', 1_000, { id: 1, name: 'Anne Marie' }, { pos: 'binlog:0003:0484' });
    const snapshot = change('db', 300_000, { id: 1, name: 'Anne' }, { pos: 'binlog:0003:0154' });
    for (const o of orders([streamed, snapshot])) {
      const r = mergeChanges(flow, undefined, o);
      expect(r.view.data).toEqual({ id: 1, name: 'Anne Marie' });
    }
    const r = mergeChanges(flow, undefined, [streamed, snapshot]);
    expect(r.decisions[1]).toMatchObject({ outcome: 'superseded', reason: expect.stringContaining("earlier in db's log") });
  });

  it('orders the changes of one transaction (one ts) by position', () => {
    // SQL Server: an insert and an update of one row in one transaction share ts_ms; change_lsn orders them.
    const insert = change('db', 5_000, { id: 1, qty: 1 }, { pos: 'mssql:0000002a:00000730:0003:0000000002:0000000001' });
    const update = change('db', 5_000, { id: 1, qty: 2 }, { pos: 'mssql:0000002a:00000731:0002:0000000002:0000000001' });
    for (const o of orders([insert, update])) expect(mergeChanges(flow, undefined, o).view.data).toEqual({ id: 1, qty: 2 });
  });

  it('orders the changes of one Oracle or MongoDB transaction that share a log position by their place in it', () => {
    // Oracle: an insert and two updates of one row in one transaction, at one SCN; ssn and transaction.total_order
    // tell them apart (oracle.adoc, source block and transaction metadata).
    // Made last to first, so their event ids, the last tie-break, order them the wrong way.
    const oracle = ['third', 'second', 'first'].map((name, i) =>
      change('db', 5_000, { id: 1, name }, { pos: positionOf({ connector: 'oracle', scn: '2868546', commit_scn: '2868560', ssn: 2 - i }, { id: '5.6.641', total_order: String(3 - i) })! }),
    );
    // MongoDB: every change of a transaction has its clusterTime (ts_ms and ord); only total_order orders them.
    const mongo = ['third', 'second', 'first'].map((name, i) =>
      change('db', 5_000, { id: 1, name }, { pos: positionOf({ connector: 'mongodb', ts_ms: 1_559_033_904_000, ord: 3 }, { id: 'txn-1', total_order: 3 - i })! }),
    );
    for (const events of [oracle, mongo]) for (const o of orders(events)) expect(mergeChanges(flow, undefined, o).view.data).toEqual({ id: 1, name: 'third' });
  });

  it('orders the first PostgreSQL transaction streamed after a snapshot above the snapshot, though its LSN is lower', () => {
    // The snapshot read at the slot's start (LSN 1000) and an update written at 950 that committed after it: neither
    // has a last committed LSN yet (PostgresOffsetContext.initialContext). The next transaction has 1010.
    const pg = (lsn: number, committed: number | null, snapshot: string) => positionOf({ connector: 'postgresql', lsn, sequence: JSON.stringify([committed === null ? null : String(committed), String(lsn)]), snapshot })!;
    const read = change('db', 9_000, { id: 1, name: 'Anne' }, { pos: pg(1000, null, 'true') });
    const update = change('db', 1_000, { id: 1, name: 'Anne Marie' }, { pos: pg(950, null, 'false') });
    const next = change('db', 2_000, { id: 1, name: 'Anne-Marie' }, { pos: pg(1100, 1010, 'false') });
    for (const o of orders([read, update])) expect(mergeChanges(flow, undefined, o).view.data).toEqual({ id: 1, name: 'Anne Marie' });
    for (const o of orders([read, update, next])) expect(mergeChanges(flow, undefined, o).view.data).toEqual({ id: 1, name: 'Anne-Marie' });
  });

  it('leaves a column the source did not send as it is (a partial update), in any order', () => {
    const insert = change('db', 1_000, { id: 1, name: 'Anne', bio: 'long text' }, { pos: 'lsn:10' });
    const toast = change('db', 2_000, { id: 1, name: 'Anne Marie' }, { pos: 'lsn:20', keep: ['bio'] });
    for (const o of orders([insert, toast])) {
      expect(mergeChanges(flow, undefined, o).view.data).toEqual({ id: 1, name: 'Anne Marie', bio: 'long text' });
    }
  });

  it('a delete at a later position hides the row, a re-insert after it shows again', () => {
    const insert = change('db', 1_000, { id: 1, name: 'Anne' }, { pos: 'lsn:10' });
    const del = change('db', 900, null, { pos: 'lsn:20' });
    const reinsert = change('db', 800, { id: 1, name: 'Anne again' }, { pos: 'lsn:30' });
    for (const o of orders([insert, del])) expect(mergeChanges(flow, undefined, o).view.deleted).toBe(true);
    for (const o of orders([insert, del, reinsert])) expect(mergeChanges(flow, undefined, o).view.data).toEqual({ id: 1, name: 'Anne again' });
  });

  it('merges a positioned source with another source by ts', () => {
    const db = change('db', 1_000, { id: 1, name: 'from db' }, { pos: 'lsn:10' });
    const crm = change('crm', 2_000, { id: 1, name: 'from crm' });
    const expected = strategy === 'priority' ? 'from db' : 'from crm';
    for (const o of orders([db, crm])) {
      const r = mergeChanges(flow, undefined, o);
      if (strategy !== 'manual') expect(r.view.data).toEqual({ id: 1, name: expected });
      else expect(r.view.data?.name === 'from crm' || r.conflicts.length > 0).toBe(true);
    }
  });

  it('shows the position in the reason of a superseded change', () => {
    const a = change('db', 1_000, { id: 1, v: 2 }, { pos: 'lsn:20' });
    const b = change('db', 5_000, { id: 1, v: 1 }, { pos: 'lsn:10' });
    const r = mergeChanges(flow, undefined, [a, b]);
    expect(r.decisions[1]!.reason).toContain('at lsn:20');
  });
});

import { describe, expect, it } from 'vitest';
import { parseDebeziumBody, parseDebeziumEvent, positionOf, tableSelected } from '../../functions/core/capture/debezium';
import { mysqlCreate, mysqlDelete, mysqlSnapshotOrders, mysqlUpdate, pgCreate, pgDelete, pgUpdate, tombstone } from '../fixtures/debezium';

describe('Debezium PostgreSQL change events', () => {
  it('maps a create in the schema/payload wrapper to an upsert of after, with ts from source.ts_ms and seq from the LSN', () => {
    // Act
    const item = parseDebeziumEvent(pgCreate, 0);
    // Assess
    expect(item).toEqual({
      kind: 'change',
      index: 0,
      op: 'upsert',
      operation: 'c',
      data: pgCreate.payload.after,
      ts: 1559033904863,
      seq: 'lsn:00000000000024023128',
      table: 'postgres.public.customers',
    });
  });

  it('reads an unwrapped update with before and after', () => {
    const item = parseDebeziumEvent(pgUpdate, 3);
    expect(item).toMatchObject({ kind: 'change', index: 3, op: 'upsert', data: pgUpdate.after, before: pgUpdate.before, ts: 1559033904900 });
  });

  it('keys a delete by before', () => {
    const item = parseDebeziumEvent(pgDelete, 0);
    expect(item).toMatchObject({ kind: 'change', op: 'delete', operation: 'd', data: { id: 1 }, seq: 'lsn:00000000000046523128' });
  });

  it('orders LSNs as strings the way they order as numbers', () => {
    const a = positionOf({ lsn: 9_999_999 })!;
    const b = positionOf({ lsn: 24_023_128 })!;
    expect(a < b).toBe(true);
  });
});

describe('Debezium MySQL change events', () => {
  it('maps create, update and delete with seq from the binlog file, position and row', () => {
    const [c, u, d] = parseDebeziumBody([mysqlCreate, mysqlUpdate, mysqlDelete]);
    expect(c).toMatchObject({ kind: 'change', op: 'upsert', data: mysqlCreate.payload.after, ts: 1465491411000, table: 'inventory.customers' });
    expect(u).toMatchObject({ kind: 'change', op: 'upsert', before: mysqlUpdate.payload.before, ts: 1465581029100 });
    expect(d).toMatchObject({ kind: 'change', op: 'delete', data: mysqlDelete.payload.before, index: 2 });
    const seqs = [c, u, d].map((i) => (i.kind === 'change' ? i.seq : undefined));
    expect(seqs[0]).toBe('binlog:mysql-bin.0000000003:00000000000000000154:000000');
    expect([...seqs].sort()).toEqual(seqs);
  });

  it('orders binlog positions across files and rows', () => {
    const seq = (file: string, pos: number, row = 0) => positionOf({ file, pos, row })!;
    expect(seq('mysql-bin.000003', 9_000) < seq('mysql-bin.000004', 4)).toBe(true);
    expect(seq('mysql-bin.999999', 4) < seq('mysql-bin.1000000', 4)).toBe(true);
    expect(seq('mysql-bin.000003', 154, 1) < seq('mysql-bin.000003', 154, 2)).toBe(true);
    expect(seq('mysql-bin.000003', 999) < seq('mysql-bin.000003', 1000)).toBe(true);
  });

  it('treats a snapshot read (op r) as an upsert', () => {
    const item = parseDebeziumEvent(mysqlSnapshotOrders, 0);
    expect(item).toMatchObject({ kind: 'change', op: 'upsert', operation: 'r', table: 'inventory.orders' });
  });

  it('takes seq from an Oracle SCN', () => {
    expect(positionOf({ scn: '2098474' })).toBe('scn:00000000000002098474');
  });
});

describe('table selection', () => {
  it('includes and excludes by db.table or schema.table, with wildcards', () => {
    const mysql = { db: 'inventory', table: 'customers' };
    const pg = { db: 'postgres', schema: 'public', table: 'customers' };
    expect(tableSelected(mysql, { include: ['inventory.customers'] })).toBe(true);
    expect(tableSelected(pg, { include: ['public.customers'] })).toBe(true);
    expect(tableSelected(pg, { include: ['inventory.customers'] })).toBe(false);
    expect(tableSelected(mysql, { include: ['inventory.*'], exclude: ['*.customers'] })).toBe(false);
    expect(tableSelected({ db: 'inventory', table: 'orders' }, { include: ['inventory.*'], exclude: ['*.customers'] })).toBe(true);
    expect(tableSelected(mysql, { exclude: ['inventory.orders'] })).toBe(true);
    expect(tableSelected(mysql, undefined)).toBe(true);
  });

  it('skips events of unselected tables', () => {
    const items = parseDebeziumBody([mysqlCreate, mysqlSnapshotOrders], { include: ['inventory.orders'] });
    expect(items.map((i) => i.kind)).toEqual(['skipped', 'change']);
    expect(items[0]).toMatchObject({ reason: 'table not selected', table: 'inventory.customers' });
  });
});

describe('tombstones and malformed events', () => {
  it('skips tombstones, bare or wrapped', () => {
    expect(parseDebeziumBody([null, tombstone]).map((i) => i.kind === 'skipped' && i.reason)).toEqual(['tombstone', 'tombstone']);
  });

  it('reports malformed events with their index and a reason', () => {
    const items = parseDebeziumBody([
      pgCreate,
      'text',
      { payload: { op: 'x', after: {} } },
      { payload: { op: 'c', after: null, source: {} } },
      { payload: { op: 'd', before: null, after: null } },
      { op: 'u', after: [1] },
      { payload: { op: 't', source: {} } },
    ]);
    expect(items.map((i) => i.kind)).toEqual(['change', 'malformed', 'malformed', 'malformed', 'malformed', 'malformed', 'malformed']);
    const reasons = items.slice(1).map((i) => (i.kind === 'malformed' ? `${i.index}: ${i.reason}` : ''));
    expect(reasons[0]).toMatch(/^1: event is a string/);
    expect(reasons[1]).toMatch(/^2: op is "x"/);
    expect(reasons[2]).toMatch(/^3: op "c" needs after/);
    expect(reasons[3]).toMatch(/^4: op "d" needs before/);
    expect(reasons[4]).toMatch(/^5: after is an array/);
    expect(reasons[5]).toMatch(/^6: truncate/);
  });

  it('uses the envelope ts_ms when the source has none, and no seq without a position', () => {
    const item = parseDebeziumEvent({ op: 'c', after: { id: 1 }, ts_ms: 42, source: { table: 't' } }, 0);
    expect(item).toMatchObject({ ts: 42 });
    expect(item.kind === 'change' && item.seq).toBeUndefined();
  });
});

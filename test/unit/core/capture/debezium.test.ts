import { describe, expect, it } from 'vitest';
import { parseJsonExact } from '../../../../functions/core/json-safety';
import { parseDebeziumBody, parseDebeziumEvent, positionOf, tableSelected } from '../../../../functions/core/capture/debezium';
import { mysqlCreate, mysqlDelete, mysqlSnapshotOrders, mysqlUpdate, pgCreate, pgDelete, pgUpdate, tombstone } from '../../../fixtures/debezium';
import { CONNECTORS, changeEvent, heartbeat, logicalMessage, schemaChange, T0, transactionBegin, transactionEnd, truncate, wrapped } from '../../../fixtures/debezium-connectors';

describe('Debezium PostgreSQL change events', () => {
  it('maps a create in the schema/payload wrapper to an upsert of after, with ts from source.ts_ms and the position from sequence and LSN', () => {
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
      pos: 'pg:00000000000024023119:00000000000024023128',
      table: 'postgres.public.customers',
    });
  });

  it('reads an unwrapped update with before and after', () => {
    const item = parseDebeziumEvent(pgUpdate, 3);
    expect(item).toMatchObject({ kind: 'change', index: 3, op: 'upsert', data: pgUpdate.after, before: pgUpdate.before, ts: 1559033904900 });
  });

  it('keys a delete by before', () => {
    const item = parseDebeziumEvent(pgDelete, 0);
    expect(item).toMatchObject({ kind: 'change', op: 'delete', operation: 'd', data: { id: 1 }, pos: 'pg:00000000000024023160:00000000000046523128' });
  });

  it('orders LSNs as strings the way they order as numbers', () => {
    const a = positionOf({ connector: 'postgresql', lsn: 9_999_999 })!;
    const b = positionOf({ connector: 'postgresql', lsn: 24_023_128 })!;
    expect(a < b).toBe(true);
  });

  it('orders transactions by their commit (sequence[0]) before the LSN of the change', () => {
    // A transaction that committed later can hold changes at lower LSNs than one that committed earlier.
    const first = positionOf({ connector: 'postgresql', lsn: 500, sequence: '["100","500"]' })!;
    const second = positionOf({ connector: 'postgresql', lsn: 300, sequence: '["600","300"]' })!;
    expect(first < second).toBe(true);
  });
});

describe('Debezium MySQL change events', () => {
  it('maps create, update and delete with seq from the binlog file, position and row', () => {
    const [c, u, d] = parseDebeziumBody([mysqlCreate, mysqlUpdate, mysqlDelete]);
    expect(c).toMatchObject({ kind: 'change', op: 'upsert', data: mysqlCreate.payload.after, ts: 1465491411000, table: 'inventory.customers' });
    expect(u).toMatchObject({ kind: 'change', op: 'upsert', before: mysqlUpdate.payload.before, ts: 1465581029100 });
    expect(d).toMatchObject({ kind: 'change', op: 'delete', data: mysqlDelete.payload.before, index: 2 });
    const seqs = [c, u, d].map((i) => (i.kind === 'change' ? i.pos : undefined));
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

  it('reads ts_ms given as a string, as the Oracle page shows it in an example', () => {
    const event = { op: 'c', before: null, after: { ID: 1 }, source: { connector: 'oracle', scn: '2098474', commit_scn: '2098480', ts_ms: '1580390884335', table: 'CUSTOMERS' }, ts_ms: '1580390884999' };
    expect(parseDebeziumEvent(event, 0)).toMatchObject({ kind: 'change', ts: 1_580_390_884_335 });
  });

  it('takes the position from an Oracle commit SCN and SCN', () => {
    expect(positionOf({ connector: 'oracle', scn: '2098474', commit_scn: '2098480' })).toBe('scn:00000000000002098480:00000000000002098474:0000000000:0000000000');
    // A position of an earlier release (no suffix) orders below this release's at the same SCNs, above earlier SCNs.
    expect('scn:00000000000002098480:00000000000002098474' < positionOf({ connector: 'oracle', scn: '2098474', commit_scn: '2098480' })!).toBe(true);
    expect('scn:00000000000002098480:00000000000002098474' > positionOf({ connector: 'oracle', scn: '2098473', commit_scn: '2098480', ssn: 9 }, { total_order: '9' })!).toBe(true);
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
      { payload: { after: {}, source: {} } },
    ]);
    expect(items.map((i) => i.kind)).toEqual(['change', 'malformed', 'malformed', 'malformed', 'malformed', 'malformed', 'malformed']);
    const reasons = items.slice(1).map((i) => (i.kind === 'malformed' ? `${i.index}: ${i.reason}` : ''));
    expect(reasons[0]).toMatch(/^1: event is a string/);
    expect(reasons[1]).toMatch(/^2: op is "x"/);
    expect(reasons[2]).toMatch(/^3: op "c" needs after/);
    expect(reasons[3]).toMatch(/^4: op "d" needs before/);
    expect(reasons[4]).toMatch(/^5: after is an array/);
    expect(reasons[5]).toMatch(/^6: op is missing/);
  });

  it('uses the envelope ts_ms when the source has none, and no position without one', () => {
    const item = parseDebeziumEvent({ op: 'c', after: { id: 1 }, ts_ms: 42, source: { table: 't' } }, 0);
    expect(item).toMatchObject({ ts: 42 });
    expect(item.kind === 'change' && item.pos).toBeUndefined();
  });
});

describe.each(CONNECTORS)('Debezium %s events as the connector sends them', (connector) => {
  const row = { id: 1004, first_name: 'Anne', email: 'annek@noanswer.org' };
  const streamedAt = { at: 2, ms: T0 + 1_000 };
  // MongoDB documents carry the key as `_id`.
  const idField = connector === 'mongodb' ? '_id' : 'id';

  it('maps a streamed update to an upsert with the most precise source time and a position', () => {
    const item = parseDebeziumEvent(changeEvent(connector, 'u', { before: row, after: { ...row, first_name: 'Anne Marie' } }, streamedAt), 0);
    expect(item).toMatchObject({ kind: 'change', op: 'upsert', operation: 'u', data: { [idField]: 1004, first_name: 'Anne Marie', email: 'annek@noanswer.org' } });
    if (item.kind !== 'change') throw new Error('not a change');
    expect(item.pos).toMatch(/^(pg|binlog|mssql|scn|mongo):/);
    // ts_ns (beyond 2^53) read to within a microsecond; MongoDB's oplog time has whole seconds.
    if (connector === 'mongodb') expect(item.ts).toBe(Math.floor((T0 + 1_000) / 1000) * 1000);
    else expect(Math.abs(item.ts! - (T0 + 1_000.123456))).toBeLessThan(0.001);
  });

  it('orders a late snapshot read before every streamed change, whatever its ts', () => {
    const late = parseDebeziumEvent(changeEvent(connector, 'r', { after: row }, { at: 0, ms: T0 + 300_000, snapshot: true }), 0);
    const streamed = parseDebeziumEvent(changeEvent(connector, 'u', { after: row }, streamedAt), 1);
    if (late.kind !== 'change' || streamed.kind !== 'change') throw new Error('not changes');
    expect(late.pos! < streamed.pos!).toBe(true);
  });

  it('orders the changes of one transaction by their place in it', () => {
    const first = parseDebeziumEvent(changeEvent(connector, 'c', { after: row }, { ...streamedAt, inTx: 1 }), 0);
    const second = parseDebeziumEvent(changeEvent(connector, 'u', { after: row }, { ...streamedAt, inTx: 2 }), 1);
    if (first.kind !== 'change' || second.kind !== 'change') throw new Error('not changes');
    expect(first.ts).toBe(second.ts);
    expect(first.pos! < second.pos!).toBe(true);
  });

  it('orders positions across transactions as the log does', () => {
    const positions = [1, 2, 3, 10, 11].map((at) => {
      const item = parseDebeziumEvent(changeEvent(connector, 'u', { after: row }, { at, ms: T0 + at }), 0);
      return item.kind === 'change' ? item.pos! : '';
    });
    expect([...positions].sort()).toEqual(positions);
  });

  it('keys a delete by before and reads the wrapped form alike', () => {
    const item = parseDebeziumEvent(wrapped(changeEvent(connector, 'd', { before: row }, streamedAt)), 0);
    expect(item).toMatchObject({ kind: 'change', op: 'delete', data: { [idField]: 1004 } });
  });

  it('skips heartbeats, transaction boundaries and tombstones', () => {
    const items = parseDebeziumBody([heartbeat(T0), transactionBegin('571:53195829', T0), transactionEnd('571:53195832', T0, 2, 'inventory.customers'), null, { schema: null, payload: null }]);
    expect(items.map((i) => (i.kind === 'skipped' ? i.reason : i.kind))).toEqual(['heartbeat', 'transaction boundary', 'transaction boundary', 'tombstone', 'tombstone']);
    // A flattened row (ExtractNewRecordState) whose status column says BEGIN is no boundary: without op it is refused, not skipped.
    expect(parseDebeziumBody([{ id: 'job-7', status: 'BEGIN', name: 'nightly' }])[0]).toMatchObject({ kind: 'malformed', reason: expect.stringContaining('op is missing') });
  });

  it('reads a truncate as such, with its table and position', () => {
    const item = parseDebeziumEvent(truncate(connector, { at: 5, ms: T0 + 5 }), 0);
    expect(item).toMatchObject({ kind: 'truncate', table: expect.stringMatching(/customers|CUSTOMERS/) });
  });
});

describe('events that are not row changes', () => {
  it('skips schema changes, logical decoding messages and bare heartbeats', () => {
    const items = parseDebeziumBody([schemaChange('mysql', { at: 1, ms: T0 }), wrapped(schemaChange('sqlserver', { at: 1, ms: T0 }), 'io.debezium.connector.sqlserver.SchemaChangeValue'), logicalMessage({ at: 1, ms: T0 }), { ts_ms: T0 }]);
    expect(items.map((i) => (i.kind === 'skipped' ? i.reason : i.kind))).toEqual(['schema change', 'schema change', 'message', 'heartbeat']);
  });

  it('takes a clock only from a time a Date holds: else the next field, else none (the capture time is used)', () => {
    // Prepare
    const event = (op: string, source: Record<string, unknown>) => ({ op, after: { id: 1 }, source: { connector: 'postgresql', lsn: 5, db: 'shop', table: 't', ...source } });

    // Act
    const times = [
      parseDebeziumEvent(event('c', { ts_ns: '9'.repeat(400), ts_ms: T0 }), 0),
      parseDebeziumEvent(event('c', { ts_us: 1e25, ts_ms: T0 }), 0),
      parseDebeziumEvent(event('c', { ts_ms: 1e20 }), 0),
      parseDebeziumEvent(event('t', { ts_ms: 1e130 }), 0),
    ].map((item) => (item.kind === 'change' || item.kind === 'truncate' ? item.ts : item.kind));

    // Assess
    expect(times).toEqual([T0, T0, undefined, undefined]);
  });

  it('refuses a truncate that names no table, and a row that is a number, not an object', () => {
    // Act
    const noTable = parseDebeziumEvent({ op: 't', source: { connector: 'postgresql', lsn: 1, db: 'shop' } }, 0);
    const numberRow = parseDebeziumBody(parseJsonExact('{"payload":{"op":"c","source":{"table":"t","lsn":5},"after":1e400}}'));

    // Assess
    expect(noTable).toMatchObject({ kind: 'malformed', reason: 'truncate names no table (source.table)' });
    expect(numberRow).toMatchObject([{ kind: 'malformed' }]);
  });

  it('keeps quarantined events free of numbers JSON cannot carry (source.ts_ns)', () => {
    const bad = { ...changeEvent('postgresql', 'u', { after: { id: 1 } }, { at: 1, ms: T0 }), op: 'x' };
    const item = parseDebeziumEvent(bad, 0);
    expect(item.kind).toBe('malformed');
    const source = (item as unknown as { record: { source: Record<string, unknown> } }).record.source;
    expect(typeof source.ts_ns).toBe('string');
    expect(source.ts_ms).toBe(T0);
  });
});

describe('unavailable values', () => {
  it('leaves out a TOAST column sent as __debezium_unavailable_value, its bytes form, or in an array', () => {
    const event = changeEvent('postgresql', 'u', { after: { id: 1, name: 'Anne', bio: '__debezium_unavailable_value', photo: 'X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==', tags: ['__debezium_unavailable_value'] } }, { at: 1, ms: T0 });
    const item = parseDebeziumEvent(event, 0);
    expect(item).toMatchObject({ kind: 'change', data: { id: 1, name: 'Anne' }, unavailable: ['bio', 'photo', 'tags'] });
    expect(Object.keys((item as { data: object }).data)).toEqual(['id', 'name']);
  });

  it('leaves out the placeholder as PostgreSQL sends it in int, bigint, date and uuid arrays and in hstore columns', () => {
    // Debezium's own expectations (debezium-connector-postgres DecoderDifferences.java): an int array holds the
    // placeholder's bytes as numbers, a uuid array its name-based UUID; an hstore maps the placeholder to itself.
    const codes = [95, 95, 100, 101, 98, 101, 122, 105, 117, 109, 95, 117, 110, 97, 118, 97, 105, 108, 97, 98, 108, 101, 95, 118, 97, 108, 117, 101];
    const hstore = { __debezium_unavailable_value: '__debezium_unavailable_value' };
    const after = { id: 1, tags: codes, big: codes, days: codes, ids: ['b68a35a7-17ad-35b3-af2a-ae46edb4545a'], attrs: JSON.stringify(hstore), attrm: hstore, name: 'Anne', scores: codes.slice(1), other: { a: '__debezium_unavailable_value' } };
    const item = parseDebeziumEvent(changeEvent('postgresql', 'u', { after }, { at: 1, ms: T0 }), 0);
    expect(item).toMatchObject({ kind: 'change', unavailable: ['tags', 'big', 'days', 'ids', 'attrs', 'attrm'] });
    // A real array of other numbers, and a map with another key, are data.
    expect((item as { data: object }).data).toEqual({ id: 1, name: 'Anne', scores: codes.slice(1), other: { a: '__debezium_unavailable_value' } });
  });
});

describe('MongoDB documents', () => {
  it('parses Extended JSON strings and selects by collection', () => {
    const event = changeEvent('mongodb', 'c', { after: { id: 1004, first_name: 'Anne' } }, { at: 1, ms: T0 });
    expect(parseDebeziumEvent(event, 0, { include: ['inventory.customers'] })).toMatchObject({ kind: 'change', data: { _id: 1004, first_name: 'Anne' }, table: 'inventory.customers' });
    expect(parseDebeziumEvent(event, 0, { include: ['inventory.orders'] })).toMatchObject({ kind: 'skipped', reason: 'table not selected' });
  });

  it('turns $oid, $date, $numberLong and $numberDecimal into plain values', () => {
    const after = JSON.stringify({ _id: { $oid: '5d1b5e8d3f0b5a2a1c8e4b7a' }, at: { $date: 1559033904863 }, n: { $numberLong: '9007199254740993' }, small: { $numberLong: '42' }, price: { $numberDecimal: '19.99' }, nested: [{ when: { $date: '2019-05-28T08:58:24.863Z' } }] });
    const item = parseDebeziumEvent({ op: 'c', after, source: { connector: 'mongodb', db: 'inventory', collection: 'customers', ts_ms: T0, ord: 1 } }, 0);
    expect(item).toMatchObject({
      kind: 'change',
      data: { _id: '5d1b5e8d3f0b5a2a1c8e4b7a', at: '2019-05-28T08:58:24.863Z', n: '9007199254740993', small: 42, price: '19.99', nested: [{ when: '2019-05-28T08:58:24.863Z' }] },
    });
  });

  it('takes after and before as objects too', () => {
    const item = parseDebeziumEvent({ op: 'u', after: { _id: { $oid: 'a1' }, x: 1 }, before: { _id: { $oid: 'a1' }, x: 0 }, source: { connector: 'mongodb', collection: 'c', ts_ms: T0, ord: 2 } }, 0);
    expect(item).toMatchObject({ kind: 'change', data: { _id: 'a1', x: 1 }, before: { _id: 'a1', x: 0 } });
  });

  it('keys a document by a UUID _id, as $uuid or as $binary of subtype 04 (canonical and legacy Extended JSON)', () => {
    // https://www.mongodb.com/docs/manual/reference/mongodb-extended-json/: Binary {"$binary": {"base64", "subType"}}, legacy {"$binary", "$type"}.
    const uuid = '3b241101-e2bb-4255-8caf-4136c566a962';
    const base64 = Buffer.from(uuid.replace(/-/g, ''), 'hex').toString('base64');
    const source = { connector: 'mongodb', db: 'inventory', collection: 'customers', ts_ms: T0, ord: 1 };
    for (const id of [{ $uuid: uuid.toUpperCase() }, { $binary: { base64, subType: '04' } }, { $binary: { base64, subType: '4' } }, { $binary: base64, $type: '04' }]) {
      const item = parseDebeziumEvent({ op: 'c', after: JSON.stringify({ _id: id, n: 1 }), source }, 0);
      expect(item, JSON.stringify(id)).toMatchObject({ kind: 'change', data: { _id: uuid, n: 1 } });
    }
    // Other binary data stays as it was sent.
    const other = parseDebeziumEvent({ op: 'c', after: JSON.stringify({ _id: 1, blob: { $binary: { base64: 'AQID', subType: '00' } } }), source }, 0);
    expect(other).toMatchObject({ kind: 'change', data: { blob: { $binary: { base64: 'AQID', subType: '00' } } } });
  });

  it('deletes by the pre-image, and quarantines a delete without one, naming the setting', () => {
    const withPre = parseDebeziumEvent(changeEvent('mongodb', 'd', { before: { id: 7, first_name: 'A' } }, { at: 1, ms: T0 }), 0);
    expect(withPre).toMatchObject({ kind: 'change', op: 'delete', data: { _id: 7 } });
    const without = parseDebeziumEvent(changeEvent('mongodb', 'd', {}, { at: 1, ms: T0 }), 0);
    expect(without).toMatchObject({ kind: 'malformed', reason: expect.stringContaining('pre-images') });
  });

  it('applies updateDescription to the pre-image when the full document is not captured', () => {
    const event = { op: 'u', after: null, before: JSON.stringify({ _id: { $numberLong: '5' }, a: 1, b: 2 }), updateDescription: { updatedFields: '{"a": 3}', removedFields: ['b'], truncatedArrays: null }, source: { connector: 'mongodb', collection: 'c', ts_ms: T0, ord: 3 } };
    expect(parseDebeziumEvent(event, 0)).toMatchObject({ kind: 'change', data: { _id: 5, a: 3 } });
    expect((parseDebeziumEvent(event, 0) as { data: object }).data).not.toHaveProperty('b');
  });

  it('applies dotted paths and truncated arrays of an update to the pre-image, field inside field', () => {
    // change_streams_with_pre_image: the update carries before and the update description, not after
    // (https://www.mongodb.com/docs/manual/reference/change-events/update/: updatedFields, removedFields, truncatedArrays).
    const before = { _id: { $oid: '5d1b5e8d3f0b5a2a1c8e4b7a' }, first_name: 'Anne', address: { city: 'Paris', zip: '75001' }, tags: ['a', 'b', 'c', 'd'], n: { $numberLong: '42' } };
    const updateDescription = { removedFields: ['address.zip'], updatedFields: JSON.stringify({ 'address.city': 'Lyon', 'tags.1': 'B', 'address.geo.lat': 45.76 }), truncatedArrays: [{ field: 'tags', size: 2 }] };
    const event = { op: 'u', after: null, before: JSON.stringify(before), updateDescription, source: { connector: 'mongodb', db: 'inventory', collection: 'customers', ts_ms: T0, ord: 3 } };

    // Act
    const item = parseDebeziumEvent(event, 0);

    // Assess: every other field stays; no field is named by a dotted path.
    expect((item as { data: object }).data).toEqual({ _id: '5d1b5e8d3f0b5a2a1c8e4b7a', first_name: 'Anne', address: { city: 'Lyon', geo: { lat: 45.76 } }, tags: ['a', 'B'], n: 42 });
  });

  it('quarantines an update of a field inside a field without the document, and takes top-level fields as a partial update', () => {
    const source = { connector: 'mongodb', db: 'inventory', collection: 'customers', ts_ms: T0, ord: 3 };
    const nested = { op: 'u', after: null, before: null, filter: '{"_id": 7}', updateDescription: { removedFields: [], updatedFields: '{"address.city": "Lyon"}', truncatedArrays: [] }, source };
    expect(parseDebeziumEvent(nested, 0)).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/fields inside a field .* change_streams_update_full, or enable pre-images/) });
    const truncated = { ...nested, updateDescription: { removedFields: [], updatedFields: '{}', truncatedArrays: [{ field: 'tags', size: 1 }] } };
    expect(parseDebeziumEvent(truncated, 0)).toMatchObject({ kind: 'malformed' });
    // A size no array can have is refused, with or without the document (it threw, failing the whole request).
    for (const size of [-1, 1.5, '2', null]) {
      const bad = { ...nested, before: '{"_id": 7, "tags": ["a", "b", "c"]}', updateDescription: { removedFields: [], updatedFields: '{}', truncatedArrays: [{ field: 'tags', size }] } };
      expect(parseDebeziumEvent(bad, 0), String(size)).toMatchObject({ kind: 'malformed', reason: expect.stringContaining('truncatedArrays') });
    }
    const flat = { ...nested, updateDescription: { removedFields: ['zip'], updatedFields: '{"city": "Lyon"}', truncatedArrays: [] } };
    expect(parseDebeziumEvent(flat, 0)).toMatchObject({ kind: 'change', data: { _id: 7, city: 'Lyon', zip: null } });
  });
});

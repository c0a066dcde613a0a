import { describe, expect, it } from 'vitest';
import { unmarshallImage } from '../../../../functions/adapters/dynamodb-images';
import { approximateTime, mapStreamRecord, snapshotClock, snapshotEnvelope, type DynamoDbStreamSource } from '../../../../functions/core/capture/dynamodb-stream';
import { InexactNumber } from '../../../../functions/core/json-safety';
import { contentHash } from '../../../../functions/core/envelope';
import { clockOf, compareClock } from '../../../../functions/core/merge/clock';
import { replicaFlow, streamRecord } from '../../../fixtures/streams';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const primary = replicaFlow.sources[0] as DynamoDbStreamSource;
const quiet = replicaFlow.sources[1] as DynamoDbStreamSource;
const map = (record: ReturnType<typeof streamRecord>, source = primary) => mapStreamRecord(record, { flow: replicaFlow, source, now: NOW, unmarshall: unmarshallImage });

const ann = { id: { S: 'p1' }, name: { S: 'Ann' }, status: { S: 'active' }, age: { N: '41' }, tags: { SS: ['b', 'a'] }, internal: { S: 'x' } };

describe('stream record to envelope', () => {
  it('maps an INSERT to an upsert of the unmarshalled NewImage, id = eventID, ts from ApproximateCreationDateTime, seq = SequenceNumber', () => {
    // Prepare
    const record = streamRecord('INSERT', { newImage: ann }, { seq: '4421584500000000017450439091', eventID: 'e1', at: 1768478400.5 });
    // Act
    const out = map(record);
    // Assess
    expect(out).toEqual({
      kind: 'envelope',
      ttlExpiry: false,
      envelope: {
        v: 1,
        id: 'e1',
        flow: 'people',
        source: 'primary',
        key: '',
        op: 'upsert',
        data: { id: 'p1', name: 'Ann', status: 'active', age: 41, tags: ['a', 'b'] },
        ts: 1768478400500,
        seq: '4421584500000000017450439091',
        pos: 'ddb:0000000000004421584500000000017450439091',
        lineage: [{ step: 'capture', at: NOW, outcome: 'captured' }],
      },
    });
  });

  it("orders a table's own edits by sequence number: the position orders as the numbers do", () => {
    const pos = (seq: string) => {
      const out = map(streamRecord('MODIFY', { newImage: ann, oldImage: ann }, { seq, eventID: `e${seq}` }));
      return out.kind === 'envelope' ? out.envelope.pos : undefined;
    };
    expect(pos('999999999999999999999') ! < pos('1000000000000000000000')!).toBe(true);
  });

  it('keeps OldImage as before on MODIFY, with the same attribute selection', () => {
    const out = map(streamRecord('MODIFY', { newImage: { ...ann, name: { S: 'Anna' } }, oldImage: ann }));
    expect(out.kind === 'envelope' && out.envelope.before).toEqual({ id: 'p1', name: 'Ann', status: 'active', age: 41, tags: ['a', 'b'] });
    expect(out.kind === 'envelope' && out.envelope.data?.name).toBe('Anna');
  });

  it('maps REMOVE to a delete keyed by OldImage', () => {
    const out = map(streamRecord('REMOVE', { oldImage: ann }));
    expect(out).toMatchObject({ kind: 'envelope', ttlExpiry: false, envelope: { op: 'delete', data: { id: 'p1' } } });
    expect(out.kind === 'envelope' && out.envelope.before).toBeUndefined();
  });

  it('treats a TTL expiry as a delete, or ignores it when the source says so', () => {
    const ttl = { userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' } };
    expect(map(streamRecord('REMOVE', { oldImage: ann }, ttl))).toMatchObject({ kind: 'envelope', ttlExpiry: true, envelope: { op: 'delete' } });
    expect(map(streamRecord('REMOVE', { oldImage: ann }, ttl), quiet)).toMatchObject({ kind: 'skipped', reason: 'ttl delete ignored' });
    // A delete by a person is never ignored.
    expect(map(streamRecord('REMOVE', { oldImage: ann }), quiet)).toMatchObject({ kind: 'envelope', envelope: { op: 'delete' } });
  });

  it('applies the source filter to the full image, OldImage for deletes', () => {
    const inactive = { ...ann, status: { S: 'gone' } };
    expect(map(streamRecord('INSERT', { newImage: inactive }))).toMatchObject({ kind: 'skipped', reason: 'filtered' });
    expect(map(streamRecord('REMOVE', { oldImage: inactive }))).toMatchObject({ kind: 'skipped', reason: 'filtered' });
    expect(map(streamRecord('INSERT', { newImage: { ...ann, status: { S: 'blocked' } } })).kind).toBe('envelope');
  });

  it("takes origin and ts from syncline's marker and strips it from the data", () => {
    const item = contentHash(unmarshallImage(ann));
    const marker = { M: { flow: { S: 'people' }, version: { N: '7' }, hash: { S: 'h7' }, item: { S: item }, ts: { N: '1768400000000' } } };
    const out = map(streamRecord('MODIFY', { newImage: { ...ann, _syncline: marker }, oldImage: { ...ann, _syncline: marker } }));
    expect(out.kind).toBe('envelope');
    if (out.kind !== 'envelope') return;
    expect(out.envelope.origin).toEqual({ flow: 'people', target: '', version: 7, hash: 'h7', item, ts: 1768400000000 });
    expect(out.envelope.ts).toBe(1768400000000);
    expect(out.envelope.data).not.toHaveProperty('_syncline');
    expect(out.envelope.before).not.toHaveProperty('_syncline');
  });

  it("gives a relayed change (unchanged marked item) the marker's seq and id, so it keeps the original clock", () => {
    // Prepare: another flow delivered the winning change (seq 42, id evt-orig) to this table.
    const item = contentHash(unmarshallImage(ann));
    const clocked = { M: { flow: { S: 'people' }, version: { N: '7' }, hash: { S: 'h7' }, item: { S: item }, ts: { N: '1768400000000' }, seq: { S: '42' }, id: { S: 'evt-orig' } } };

    // Act
    const out = map(streamRecord('MODIFY', { newImage: { ...ann, _syncline: clocked } }, { seq: '900000000000000000001' }));

    // Assess
    expect(out).toMatchObject({ kind: 'envelope', envelope: { ts: 1768400000000, seq: '42', id: 'evt-orig', origin: { seq: '42', id: 'evt-orig' } } });
    // No stream position: it must not hide an edit made in this table just before syncline's write landed.
    expect(out.kind === 'envelope' && out.envelope.pos).toBeUndefined();
  });

  it('keeps the stream seq and id for a marker without (both) seq and id, and for an edited marked item', () => {
    const item = contentHash(unmarshallImage(ann));
    const base = { flow: { S: 'people' }, version: { N: '7' }, hash: { S: 'h7' }, item: { S: item }, ts: { N: '1768400000000' } };
    const legacy = map(streamRecord('MODIFY', { newImage: { ...ann, _syncline: { M: base } } }, { seq: '900000000000000000002' }));
    expect(legacy).toMatchObject({ kind: 'envelope', envelope: { seq: '900000000000000000002', id: 'evt-900000000000000000002' } });
    const half = map(streamRecord('MODIFY', { newImage: { ...ann, _syncline: { M: { ...base, seq: { S: '42' } } } } }, { seq: '900000000000000000003' }));
    expect(half).toMatchObject({ kind: 'envelope', envelope: { seq: '900000000000000000003', id: 'evt-900000000000000000003' } });
    const clocked = { M: { ...base, seq: { S: '42' }, id: { S: 'evt-orig' } } };
    const edited = map(streamRecord('MODIFY', { newImage: { ...ann, name: { S: 'Annie' }, _syncline: clocked } }, { seq: '900000000000000000004' }));
    expect(edited).toMatchObject({ kind: 'envelope', envelope: { seq: '900000000000000000004', id: 'evt-900000000000000000004' } });
    if (edited.kind === 'envelope') expect(edited.envelope.origin).toBeUndefined();
  });

  it('reports records that cannot be read instead of throwing', () => {
    // A number beyond a double is read with its digits, for the capture to refuse with its path.
    const big = map(streamRecord('INSERT', { newImage: { ...ann, big: { N: '123456789012345678901234567890' } } }));
    const digits = big.kind === 'envelope' ? big.envelope.data?.big : undefined;
    expect(digits).toBeInstanceOf(InexactNumber);
    expect((digits as InexactNumber).text).toBe('123456789012345678901234567890');
    // The reason names the kind of problem, never the SDK's message (it may quote the value).
    expect(map(streamRecord('INSERT', { newImage: { id: { S: 'p1' }, odd: { X: '1' } } }))).toMatchObject({ kind: 'invalid', reason: 'image cannot be unmarshalled: Error (value of a type DynamoDB cannot store)' });
    expect(map(streamRecord('INSERT', { newImage: { id: { S: 'p1' }, nan: { N: 'abc' } } }))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/cannot be unmarshalled/) });
    expect(map(streamRecord('INSERT', {}))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/no NewImage/) });
    const noSeq = streamRecord('INSERT', { newImage: ann });
    delete (noSeq.dynamodb as { SequenceNumber?: string }).SequenceNumber;
    expect(map(noSeq)).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/SequenceNumber/) });
  });

  it('turns binary into base64 so envelopes stay JSON', () => {
    const out = map(streamRecord('INSERT', { newImage: { ...ann, blob: { B: Buffer.from('hi').toString('base64') } } }));
    expect(out.kind === 'envelope' && out.envelope.data?.blob).toBe(Buffer.from('hi').toString('base64'));
  });
});

describe('approximateTime', () => {
  it('converts seconds to ms and keeps ms', () => {
    expect(approximateTime(1678831218)).toBe(1678831218000);
    expect(approximateTime(1678831218.25)).toBe(1678831218250);
    expect(approximateTime(1678831218123)).toBe(1678831218123);
    expect(approximateTime(undefined)).toBeUndefined();
  });
});

describe('own write or outside change', () => {
  const item = contentHash(unmarshallImage(ann));
  const marker = { M: { flow: { S: 'people' }, version: { N: '7' }, hash: { S: 'h7' }, item: { S: item }, ts: { N: '1768400000000' } } };

  it('an item edited after syncline wrote it keeps the marker but is a real change: no origin, clocked by the stream', () => {
    // Prepare: a person changed `name`; the marker attribute stayed on the item.
    const edited = streamRecord('MODIFY', { newImage: { ...ann, name: { S: 'Annie' }, _syncline: marker }, oldImage: { ...ann, _syncline: marker } }, { at: 1768478400 });
    // Act
    const out = map(edited);
    // Assess
    if (out.kind !== 'envelope') throw new Error(out.kind);
    expect(out.envelope.origin).toBeUndefined();
    expect(out.envelope.ts).toBe(1768478400000);
    expect(out.envelope.data).toMatchObject({ name: 'Annie' });
    expect(out.envelope.data).not.toHaveProperty('_syncline');
  });

  it('an old marker without an item hash is compared with the view hash', () => {
    const data = unmarshallImage(ann);
    const legacy = { M: { flow: { S: 'people' }, version: { N: '3' }, hash: { S: contentHash(data) }, ts: { N: '5' } } };
    const out = map(streamRecord('MODIFY', { newImage: { ...ann, _syncline: legacy } }));
    expect(out.kind === 'envelope' && out.envelope.origin?.version).toBe(3);
    const wrong = { M: { flow: { S: 'people' }, version: { N: '3' }, hash: { S: 'other' }, ts: { N: '5' } } };
    expect(map(streamRecord('MODIFY', { newImage: { ...ann, _syncline: wrong } }))).not.toHaveProperty('envelope.origin');
  });
});

describe('snapshotEnvelope (backfill)', () => {
  it('is an upsert snapshot with attribute selection, a content-derived id and the marker clock when present', () => {
    const item = { id: 'p1', name: 'Ann', internal: 'x' };
    const a = snapshotEnvelope(replicaFlow, 'primary', item, NOW);
    expect(a).toMatchObject({ op: 'upsert', source: 'primary', data: { id: 'p1', name: 'Ann' }, ts: snapshotClock(NOW), seq: `snapshot:${NOW}` });
    expect(snapshotEnvelope(replicaFlow, 'primary', { ...item }, NOW).id).toBe(a.id);
    expect(snapshotEnvelope(replicaFlow, 'primary', { ...item, name: 'Anna' }, NOW).id).not.toBe(a.id);
    const echoed = snapshotEnvelope(replicaFlow, 'primary', { ...item, _syncline: { flow: 'people', version: 2, hash: 'h', item: contentHash(item), ts: 5 } }, NOW);
    expect(echoed).toMatchObject({ ts: 5, origin: { version: 2 } });
    expect(echoed.data).not.toHaveProperty('_syncline');
  });

  it('loses to a stream change made after the read began, even within that second, and wins over one made a second before', () => {
    // The scan page is read from 12:00:00.300; stream records carry whole seconds (rounded down).
    const second = 1768478400;
    const readAt = second * 1000 + 300;
    const snapshot = clockOf(snapshotEnvelope(replicaFlow, 'primary', { id: 'p1', name: 'Ann', status: 'active' }, readAt));
    const change = (at: number) => {
      const out = map(streamRecord('MODIFY', { newImage: { ...ann, name: { S: 'Annie' } } }, { at }));
      if (out.kind !== 'envelope') throw new Error(`not an envelope: ${out.kind}`);
      return clockOf(out.envelope);
    };
    expect(compareClock(change(second), snapshot, [])).toBeGreaterThan(0);
    expect(compareClock(change(second - 1), snapshot, [])).toBeLessThan(0);
  });
});

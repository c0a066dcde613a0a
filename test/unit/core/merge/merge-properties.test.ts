import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, type ChangeEnvelope } from '../../../../functions/core/envelope';
import { mergeChanges, packDoc, unpackDoc, viewOf, type MergeDoc, type MergeResult } from '../../../../functions/core/merge';
import { flowSchema, type FlowConfig } from '../../../../functions/config/schema';

const SOURCES = ['crm', 'erp', 'web'];
const FIELDS = ['a', 'b', 'c', 'd'];

function flowWith(conflict: Record<string, unknown>): FlowConfig {
  return flowSchema.parse({
    id: 'prop',
    key: ['id'],
    sources: SOURCES.map((id) => ({ id, type: 'webhook' })),
    targets: [{ id: 'out', type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:123456789012:out' }],
    conflict,
  });
}

const FLOWS: Record<string, FlowConfig> = {
  lww: flowWith({ strategy: 'lww' }),
  'field-lww': flowWith({ strategy: 'field-lww' }),
  // The key ranked otherwise than `*`: a delete may outrank the key but not another field, or the reverse.
  priority: flowWith({ strategy: 'priority', priority: { '*': ['crm', 'erp'], a: ['web', 'erp'], id: ['erp', 'crm'] } }),
  manual: flowWith({ strategy: 'manual' }),
  'manual-window': flowWith({ strategy: 'manual', concurrencyWindow: '1 minute' }),
};

// Few values and ts steps of 30 s around a 1-minute window: many ties, equal values and acknowledgements.
const value = fc.constantFrom<unknown>(0, 1, 2, null, { x: 1 });
const fieldsOf = fc.subarray(FIELDS, { minLength: 1 }).chain((fs) => fc.tuple(...fs.map((f) => value.map((v) => [f, v] as const))));
// crm and erp have log positions (as Debezium and DynamoDB stream sources do), web has none; positions disagree with
// ts freely, so a later position with an older ts, and a source's position order crossing another source's clocks.
const POSITIONED = new Set(['crm', 'erp']);
const rawChange = fc.record({
  source: fc.constantFrom(...SOURCES, 'syncline:review'),
  pos: fc.constantFrom('lsn:01', 'lsn:02', 'lsn:03', 'lsn:10'),
  keep: fc.option(fc.subarray(FIELDS, { minLength: 1 }), { nil: undefined }),
  op: fc.oneof({ weight: 4, arbitrary: fc.constant('upsert' as const) }, { weight: 1, arbitrary: fc.constant('delete' as const) }),
  ts: fc.nat({ max: 4 }).map((t) => t * 30_000),
  seq: fc.constantFrom('9', '10', '100000000000000000000001', 'a', 'b'),
  data: fieldsOf,
  before: fc.option(fieldsOf, { nil: undefined }),
});

type RawChange = typeof rawChange extends fc.Arbitrary<infer R> ? R : never;

/** The envelope of a generated change under `id`; `empty` sends an upsert with no field. */
function envelopeOf(r: RawChange, id: string, empty = false): ChangeEnvelope {
  const isDelete = r.op === 'delete';
  const data = empty ? [] : r.data;
  return {
    v: 1,
    id,
    flow: 'prop',
    source: r.source,
    key: 'k',
    op: isDelete ? 'delete' : 'upsert',
    // An upsert carries its key field (the transform reads the key from it), except the `empty` edge case.
    ...(isDelete ? {} : { data: { ...(empty ? {} : { id: 'k' }), ...Object.fromEntries(data) } }),
    ...(r.before && !isDelete ? { before: Object.fromEntries(r.before) } : {}),
    ts: r.ts,
    seq: r.seq,
    ...(POSITIONED.has(r.source) ? { pos: r.pos } : {}),
    ...(r.keep && !isDelete ? { keep: r.keep.filter((f) => !data.some(([d]) => d === f)) } : {}),
    lineage: [],
  };
}

const changeSet = fc.array(rawChange, { minLength: 1, maxLength: 8 }).map((raws) => raws.map((r, i) => envelopeOf(r, `e${i}`)));

/** The set of changes, a delivery of it (permuted, with duplicates) and how it is cut into batches. */
const scenario = changeSet.chain((changes) =>
  fc.record({
    changes: fc.constant(changes),
    order: fc.shuffledSubarray(changes, { minLength: changes.length, maxLength: changes.length }),
    dups: fc.array(fc.tuple(fc.nat({ max: changes.length - 1 }), fc.nat()), { maxLength: 5 }),
    cuts: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 20 }),
  }),
);

const roundTrip = (doc: MergeDoc): MergeDoc => JSON.parse(JSON.stringify(doc)) as MergeDoc;
/** As the state store persists a doc: packed with one clock table, through JSON. */
const stored = (doc: MergeDoc): MergeDoc => unpackDoc(JSON.parse(JSON.stringify(packDoc(doc))) as ReturnType<typeof packDoc>);
const conflictIds = (r: MergeResult) => r.conflicts.map((c) => c.id).sort();
/** Frozen all the way down: any change to it throws. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function deliver(changes: ChangeEnvelope[], dups: [number, number][]): ChangeEnvelope[] {
  const out = [...changes];
  for (const [i, at] of dups) out.splice(at % (out.length + 1), 0, changes[i]);
  return out;
}

function inBatches(flow: FlowConfig, delivery: ChangeEnvelope[], cuts: number[]): MergeResult {
  let doc: MergeDoc | undefined;
  let result: MergeResult | undefined;
  for (let i = 0, c = 0; i < delivery.length; c++) {
    const size = cuts[c % cuts.length];
    result = mergeChanges(flow, doc, delivery.slice(i, i + size));
    doc = stored(result.doc); // as persisted between invocations
    i += size;
  }
  return result!;
}

/** Changes that reuse ids (a replay with other content) and may carry no field at all. */
const looseChange = fc
  .record({ raw: rawChange, id: fc.constantFrom('e0', 'e1', 'e2', 'e3'), empty: fc.boolean() })
  .map(({ raw, id, empty }) => envelopeOf(raw, id, empty));

describe('merging in place (owned)', () => {
  it('agrees with merging into a copy and says docChanged exactly, across strategy switches, replayed ids and chains of merges', () => {
    const flows = Object.values(FLOWS);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: flows.length - 1 }), fc.array(looseChange, { maxLength: 4 })), { minLength: 1, maxLength: 4 }), fc.boolean(), (batches, pack) => {
        let doc: MergeDoc | undefined;
        for (const [f, changes] of batches) {
          const flow = flows[f]!;
          const before = doc === undefined ? undefined : canonicalJson(doc);
          const copied = mergeChanges(flow, doc === undefined ? undefined : roundTrip(doc), changes);
          const owned = mergeChanges(flow, doc, changes, { owned: true });
          expect(canonicalJson(owned.doc)).toBe(canonicalJson(copied.doc));
          expect(owned.view).toEqual(copied.view);
          expect(owned.decisions).toEqual(copied.decisions);
          expect(owned.changed).toBe(copied.changed);
          expect(owned.docChanged).toBe(canonicalJson(owned.doc) !== before);
          doc = pack ? stored(owned.doc) : owned.doc;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe.each(Object.entries(FLOWS))('merge properties: %s', (_name, flow) => {
  it('converges whatever the order, duplication and batching', () => {
    fc.assert(
      fc.property(scenario, ({ changes, order: perm, dups, cuts }) => {
        const ref = mergeChanges(flow, undefined, changes);
        const delivery = deliver(perm, dups);
        const oneByOne = inBatches(flow, delivery, [1]);
        const batched = inBatches(flow, delivery, cuts);
        for (const got of [oneByOne, batched]) {
          expect(roundTrip(got.doc)).toEqual(roundTrip(ref.doc));
          expect(got.view).toEqual(ref.view);
          expect(conflictIds(got)).toEqual(conflictIds(ref));
        }
        expect(ref.decisions).toHaveLength(changes.length);
      }),
      { numRuns: 300 },
    );
  });

  it('converges within a batch when two payloads share one clock (a replayed id with other content)', () => {
    // Each id has one clock (source, ts, seq, position); its payloads differ, so only their content orders them.
    const clocks = fc.tuple(rawChange, rawChange, rawChange);
    const shared = clocks.chain((raws) =>
      fc.array(fc.tuple(fc.nat({ max: 2 }), fieldsOf), { minLength: 2, maxLength: 6 }).chain((picks) => {
        const changes = picks.map(([i, data]) => envelopeOf({ ...raws[i]!, data }, `e${i}`));
        return fc.tuple(fc.constant(changes), fc.shuffledSubarray(changes, { minLength: changes.length, maxLength: changes.length }));
      }),
    );
    fc.assert(
      fc.property(shared, ([changes, perm]) => {
        const ref = mergeChanges(flow, undefined, changes);
        const got = mergeChanges(flow, undefined, perm);
        expect(got.view).toEqual(ref.view);
        expect(roundTrip(got.doc)).toEqual(roundTrip(ref.doc));
      }),
      { numRuns: 300 },
    );
  });

  it('stores a doc packed without losing anything: the same doc and view come back', () => {
    fc.assert(
      fc.property(changeSet, (changes) => {
        const merged = mergeChanges(flow, undefined, changes);
        const back = stored(merged.doc);
        expect(roundTrip(back)).toEqual(roundTrip(merged.doc));
        expect(viewOf(flow, back)).toEqual(merged.view);
        // One clock per change at most, however many fields each wrote.
        expect(packDoc(merged.doc).c.length).toBeLessThanOrEqual(changes.length);
      }),
      { numRuns: 300 },
    );
  });

  it('never changes the doc it is given, and says changed exactly when the view does', () => {
    fc.assert(
      fc.property(changeSet, fc.nat(), (changes, cut) => {
        const at = cut % changes.length;
        const first = mergeChanges(flow, undefined, changes.slice(0, at));
        // As it comes from the first merge (sharing entries with it) and as it comes from the store.
        for (const doc of [first.doc, stored(first.doc)]) {
          const snapshot = roundTrip(doc);
          const before = viewOf(flow, doc);
          const next = mergeChanges(flow, deepFreeze(doc), changes.slice(at));
          expect(roundTrip(doc)).toEqual(snapshot);
          expect(next.changed).toBe(next.view.hash !== before.hash || next.view.deleted !== before.deleted);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('merges a doc handed over in place as it would a copy, and says docChanged exactly when the doc differs', () => {
    fc.assert(
      fc.property(changeSet, fc.nat(), (changes, cut) => {
        const at = cut % changes.length;
        const first = mergeChanges(flow, undefined, changes.slice(0, at));
        const read = stored(first.doc);
        const before = canonicalJson(read);
        const copied = mergeChanges(flow, stored(first.doc), changes.slice(at));
        const owned = mergeChanges(flow, read, changes.slice(at), { owned: true });
        expect(owned.doc).toBe(read);
        expect(canonicalJson(owned.doc)).toBe(canonicalJson(copied.doc));
        expect(owned.view).toEqual(copied.view);
        expect(owned.decisions).toEqual(copied.decisions);
        expect(conflictIds(owned)).toEqual(conflictIds(copied));
        expect(owned.changed).toBe(copied.changed);
        expect(owned.docChanged).toBe(canonicalJson(owned.doc) !== before);
        expect(copied.docChanged).toBe(owned.docChanged);
      }),
      { numRuns: 400 },
    );
  });

  it('is idempotent: re-merging any merged change changes nothing', () => {
    fc.assert(
      fc.property(changeSet, fc.nat(), (changes, pick) => {
        const once = mergeChanges(flow, undefined, changes);
        const again = mergeChanges(flow, roundTrip(once.doc), [changes[pick % changes.length]]);
        expect(again.changed).toBe(false);
        expect(again.docChanged).toBe(false);
        expect(roundTrip(again.doc)).toEqual(roundTrip(once.doc));
        expect(again.view).toEqual(once.view);
        expect(again.decisions[0].outcome).toBe('superseded');
        expect(conflictIds(again)).toEqual(conflictIds(once));
      }),
      { numRuns: 200 },
    );
  });
});

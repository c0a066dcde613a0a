import { describe, expect, it } from 'vitest';
import { arrivalSeq, type ChangeEnvelope } from '../../../../functions/core/envelope';
import { changeTimeOf, compareClock, emptyDoc, mergeChanges, resolutionChange, viewOf, type MergeDoc } from '../../../../functions/core/merge';
import { flowSchema, type FlowConfig } from '../../../../functions/config/schema';

function flowWith(conflict: Record<string, unknown>): FlowConfig {
  return flowSchema.parse({
    id: 'contacts',
    key: ['id'],
    sources: ['crm', 'erp', 'web'].map((id) => ({ id, type: 'webhook' })),
    targets: [{ id: 'out', type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:123456789012:out' }],
    conflict,
  });
}

let n = 0;
interface Extra {
  seq?: string;
  before?: Record<string, unknown>;
  id?: string;
}
function up(source: string, ts: number, data: Record<string, unknown>, extra: Extra = {}): ChangeEnvelope {
  const id = extra.id ?? `e${++n}`;
  return { v: 1, id, flow: 'contacts', source, key: 'k1', op: 'upsert', data, ts, seq: extra.seq ?? id, lineage: [], ...(extra.before ? { before: extra.before } : {}) };
}
function del(source: string, ts: number, extra: Extra = {}): ChangeEnvelope {
  const id = extra.id ?? `e${++n}`;
  return { v: 1, id, flow: 'contacts', source, key: 'k1', op: 'delete', ts, seq: extra.seq ?? id, lineage: [] };
}
const canonicalDoc = (doc: MergeDoc) => JSON.parse(JSON.stringify(doc, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v)));
const merge = (flow: FlowConfig, changes: ChangeEnvelope[], doc?: MergeDoc) => mergeChanges(flow, doc, changes);

describe('changes stamped in the same second by a sender that orders nothing finer (arrivalSeq)', () => {
  const second = Date.parse('2026-03-01T10:00:00Z');
  // GitHub's `issue.updated_at` and Stripe's `created` have whole seconds; delivery ids are random.
  const edited = up('crm', second, { id: 'k1', state: 'open', title: 'b' }, { id: 'edited', seq: arrivalSeq('upsert', second + 700, 'f3a1#000') });
  const closed = up('crm', second, { id: 'k1', state: 'closed', title: 'b' }, { id: 'closed', seq: arrivalSeq('upsert', second + 900, '0b2c#000') });
  const deleted = del('crm', second, { id: 'deleted', seq: arrivalSeq('delete', second + 800, '77d0#000') });

  it.each(['lww', 'field-lww'])('%s: the later arrival wins a tie, in whatever order the merges run', (strategy) => {
    const flow = flowWith({ strategy });
    for (const order of [[edited, closed], [closed, edited]]) expect(merge(flow, order).view.data).toMatchObject({ state: 'closed' });
    // The audit says it was the tie, not an older time.
    const lost = merge(flow, [closed, edited]).decisions[1]!;
    expect(lost).toMatchObject({ outcome: 'superseded', reason: expect.stringMatching(new RegExp(`at the same ts as ts=${second} from crm, which wins the tie$`)) });
  });

  it.each(['lww', 'field-lww'])('%s: a delete wins a tie with an update, even one that arrives after it', (strategy) => {
    const flow = flowWith({ strategy });
    for (const order of [[closed, deleted], [deleted, closed]]) expect(merge(flow, order).view.deleted).toBe(true);
  });
});

describe('compareClock', () => {
  const order = ['crm', 'erp'];
  const c = (ts: number, src: string, seq: string, id = 'x') => ({ ts, src, seq, id });

  it('orders by ts first', () => {
    expect(compareClock(c(2, 'erp', '1'), c(1, 'crm', '9'), order)).toBeGreaterThan(0);
  });
  it('breaks ts ties by source order, earlier ranks higher, unlisted last', () => {
    expect(compareClock(c(1, 'crm', '1'), c(1, 'erp', '9'), order)).toBeGreaterThan(0);
    expect(compareClock(c(1, 'web', '9'), c(1, 'erp', '1'), order)).toBeLessThan(0);
  });
  it('compares digit seqs as big integers and others lexicographically', () => {
    expect(compareClock(c(1, 'crm', '10'), c(1, 'crm', '9'), order)).toBeGreaterThan(0);
    expect(compareClock(c(1, 'crm', '100000000000000000000000001'), c(1, 'crm', '99999999999999999999999999'), order)).toBeGreaterThan(0);
    expect(compareClock(c(1, 'crm', 'a10'), c(1, 'crm', 'a9'), order)).toBeLessThan(0);
  });
  it('falls back to id', () => {
    expect(compareClock(c(1, 'crm', '1', 'b'), c(1, 'crm', '1', 'a'), order)).toBeGreaterThan(0);
    expect(compareClock(c(1, 'crm', '1', 'a'), c(1, 'crm', '1', 'a'), order)).toBe(0);
  });
});

describe('lww', () => {
  const flow = flowWith({ strategy: 'lww' });

  it('a late older write loses and says why', () => {
    const r = merge(flow, [up('crm', 2000, { id: 1, name: 'New' }), up('erp', 1000, { id: 1, name: 'Old' })]);
    expect(r.view.data).toEqual({ id: 1, name: 'New' });
    expect(r.decisions.map((d) => d.outcome)).toEqual(['won', 'superseded']);
    expect(r.decisions[1].reason).toBe('older than ts=2000 from crm');
  });

  it('the winning upsert replaces the whole record', () => {
    const r = merge(flow, [up('crm', 1, { id: 1, name: 'A', email: 'a@x' }), up('erp', 2, { id: 1, name: 'B' })]);
    expect(r.view.data).toEqual({ id: 1, name: 'B' });
    expect(r.view.clocks.name.src).toBe('erp');
  });

  it('breaks equal-ts ties by source order, then seq, whatever the arrival order', () => {
    const crm = up('crm', 5, { name: 'crm' }, { seq: '1' });
    const erp = up('erp', 5, { name: 'erp' }, { seq: '9' });
    expect(merge(flow, [crm, erp]).view.data).toEqual({ name: 'crm' });
    expect(merge(flow, [erp, crm]).view.data).toEqual({ name: 'crm' });
    expect(merge(flowWith({ strategy: 'lww', sourceOrder: ['erp', 'crm'] }), [crm, erp]).view.data).toEqual({ name: 'erp' });
    const s9 = up('crm', 5, { name: 's9' }, { seq: '9' });
    const s10 = up('crm', 5, { name: 's10' }, { seq: '10' });
    expect(merge(flow, [s10, s9]).view.data).toEqual({ name: 's10' });
  });

  it('a delete then an older upsert stays deleted; a newer upsert resurrects', () => {
    const d = merge(flow, [up('crm', 1, { name: 'A' }), del('erp', 5), up('crm', 3, { name: 'B' })]);
    expect(d.view).toMatchObject({ data: null, deleted: true });
    expect(d.decisions.map((x) => x.outcome)).toEqual(['won', 'won', 'superseded']);
    expect(d.decisions[2].reason).toBe('older than delete ts=5 from erp');
    const r = merge(flow, [up('crm', 9, { name: 'C' })], d.doc);
    expect(r.view).toMatchObject({ data: { name: 'C' }, deleted: false });
    expect(r.changed).toBe(true);
  });

  it('a duplicate is superseded as duplicate and changes nothing', () => {
    const e = up('crm', 1, { name: 'A' });
    const first = merge(flow, [e]);
    const again = merge(flow, [e], first.doc);
    expect(again.decisions).toEqual([{ id: e.id, outcome: 'superseded', reason: 'duplicate' }]);
    expect(again.changed).toBe(false);
    expect(again.doc).toEqual(first.doc);
  });
});

describe('decision reasons', () => {
  it('name at most 20 fields and say how many more, so a record of thousands of fields keeps a short audit entry', () => {
    // Prepare
    const data = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field_with_a_rather_long_name_${i}`, i]));

    // Act
    const r = merge(flowWith({ strategy: 'field-lww' }), [up('crm', 1, data)]);

    // Assess
    expect(r.decisions[0]!.outcome).toBe('won');
    expect(r.decisions[0]!.reason).toMatch(/^visible: field_with_a_rather_long_name_0, .* and 4980 more$/);
    expect(r.decisions[0]!.reason!.length).toBeLessThan(1100);
    expect(merge(flowWith({ strategy: 'field-lww' }), [up('crm', 1, { a: 1, b: 2 })]).decisions[0]!.reason).toBe('visible: a, b');
  });
});

describe('field-lww', () => {
  const flow = flowWith({ strategy: 'field-lww' });

  it('merges partial updates from two sources per field', () => {
    const r = merge(flow, [
      up('crm', 1, { id: 1, name: 'Ann', email: 'ann@crm' }),
      up('erp', 2, { phone: '555' }),
      up('crm', 3, { name: 'Anna' }),
      up('erp', 0, { name: 'Old', title: 'CTO' }),
    ]);
    expect(r.view.data).toEqual({ id: 1, name: 'Anna', email: 'ann@crm', phone: '555', title: 'CTO' });
    expect(r.view.clocks.phone.src).toBe('erp');
    expect(r.view.clocks.name.ts).toBe(3);
    // The late write still won its untouched field.
    expect(r.decisions[3].outcome).toBe('won');
  });

  it('an explicit null is a value; an absent field is untouched', () => {
    const r = merge(flow, [up('crm', 1, { name: 'A', email: 'a@x' }), up('erp', 2, { email: null })]);
    expect(r.view.data).toEqual({ name: 'A', email: null });
  });

  it('a delete hides older fields, an older upsert stays hidden, a newer field write resurrects only that field', () => {
    const d = merge(flow, [up('crm', 1, { name: 'A', email: 'a@x' }), del('erp', 5), up('crm', 4, { name: 'B' })]);
    expect(d.view).toMatchObject({ data: null, deleted: true });
    expect(d.decisions[2]).toMatchObject({ outcome: 'superseded', reason: 'older than delete ts=5 from erp' });
    const r = merge(flow, [up('web', 6, { name: 'C' })], d.doc);
    expect(r.view).toMatchObject({ data: { name: 'C' }, deleted: false });
  });

  it('a late older write of one field loses with a reason', () => {
    const r = merge(flow, [up('crm', 5, { name: 'New' }), up('erp', 2, { name: 'Old' })]);
    expect(r.decisions[1]).toMatchObject({ outcome: 'superseded', reason: 'name older than ts=5 from crm' });
  });
});

describe('field-lww with whole-item changes (a DynamoDB stream image with its before)', () => {
  const flow = flowWith({ strategy: 'field-lww' });
  const seed = () => up('crm', 1, { name: 'n0', email: 'e0' });

  it('a field a change carries unchanged does not undo the other side\'s edit of it, whatever the order', () => {
    const a = up('crm', 5, { name: 'n-a', email: 'e0' }, { before: { name: 'n0', email: 'e0' } });
    const b = up('erp', 4, { name: 'n0', email: 'e-b' }, { before: { name: 'n0', email: 'e0' } });
    for (const changes of [[seed(), a, b], [seed(), b, a], [b, a, seed()]]) {
      const r = merge(flow, changes);
      expect(r.view.data).toEqual({ name: 'n-a', email: 'e-b' });
    }
    expect(canonicalDoc(merge(flow, [seed(), a, b]).doc)).toEqual(canonicalDoc(merge(flow, [b, seed(), a]).doc));
  });

  it('an unchanged field still shows when no change ever edited it, and a later edit of it wins', () => {
    const r = merge(flow, [up('crm', 5, { name: 'n-a', email: 'e0' }, { before: { name: 'n0', email: 'e0' } })]);
    expect(r.view.data).toEqual({ name: 'n-a', email: 'e0' });
    const later = merge(flow, [up('erp', 6, { email: 'e-b' }, { before: { email: 'e0' } })], r.doc);
    expect(later.view.data).toEqual({ name: 'n-a', email: 'e-b' });
  });
});

describe('priority', () => {
  const flow = flowWith({ strategy: 'priority', priority: { '*': ['crm', 'erp'], email: ['erp'] } });

  it("gives crm's name and erp's email regardless of timestamps and order", () => {
    for (const [tc, te] of [
      [1, 9],
      [9, 1],
    ]) {
      const crm = up('crm', tc, { name: 'CRM', email: 'crm@x' });
      const erp = up('erp', te, { name: 'ERP', email: 'erp@x' });
      for (const batch of [
        [crm, erp],
        [erp, crm],
      ]) {
        const r = merge(flow, batch);
        expect(r.view.data).toEqual({ name: 'CRM', email: 'erp@x' });
      }
    }
  });

  it('is lww within equal rank and ranks unlisted sources last', () => {
    const r = merge(flow, [up('crm', 1, { name: 'A' }), up('crm', 2, { name: 'B' }), up('web', 99, { name: 'W', title: 'x' })]);
    expect(r.view.data).toEqual({ name: 'B', title: 'x' });
    expect(r.decisions[2].outcome).toBe('won'); // title
    const lost = merge(flow, [up('crm', 1, { name: 'A' }), up('web', 99, { name: 'W' })]);
    expect(lost.decisions[1]).toMatchObject({ outcome: 'superseded', reason: 'name outranked by crm' });
  });

  it('deletes compete under the same per-field ranking', () => {
    // crm outranks erp for every field but email.
    const r = merge(flow, [up('crm', 1, { id: 'k1', name: 'A' }), up('erp', 1, { id: 'k1', email: 'e@x' }), del('erp', 5)]);
    expect(r.view.data).toEqual({ id: 'k1', name: 'A' });
    expect(r.decisions[2].outcome).toBe('won');
    const back = merge(flow, [up('erp', 9, { id: 'k1', name: 'E' })], r.doc);
    expect(back.view.data).toEqual({ id: 'k1', name: 'A' });
    expect(back.decisions[0].reason).toBe('id outranked by crm');
  });

  it('a delete that outranks the key deletes the record, though a field ranked otherwise outlives it until the key is back', () => {
    // Prepare: crm ranks first for every field but email, which only erp may write.
    const changes = [up('crm', 1, { id: 'k1', name: 'A' }), up('erp', 2, { id: 'k1', email: 'e@x' }), del('crm', 5)];

    // Act
    const orders = [changes, [...changes].reverse(), [changes[2]!, changes[0]!, changes[1]!]].map((order) => merge(flow, order));
    const erpAgain = merge(flow, [up('erp', 9, { id: 'k1', email: 'f@x' })], orders[0]!.doc);
    const crmAgain = merge(flow, [up('crm', 9, { id: 'k1', name: 'B' })], orders[0]!.doc);

    // Assess: a target never gets a record without its key; erp's email comes back with crm's next upsert.
    for (const { view } of orders) expect(view).toMatchObject({ deleted: true, data: null, tomb: { ts: 5, src: 'crm' } });
    expect(erpAgain.view).toMatchObject({ deleted: true, data: null });
    expect(erpAgain.changed).toBe(false);
    expect(crmAgain.view).toMatchObject({ deleted: false, data: { id: 'k1', name: 'B', email: 'e@x' } });
  });
});

describe('manual', () => {
  const flow = flowWith({ strategy: 'manual' });

  it('parks concurrent edits of a field by two sources; unrelated fields still merge', () => {
    const r = merge(flow, [up('crm', 1, { name: 'Ann', city: 'Oslo' }), up('erp', 2, { name: 'Anna' }), up('erp', 3, { phone: '555' })]);
    expect(r.view.data).toEqual({ name: 'Ann', city: 'Oslo', phone: '555' });
    expect(r.decisions.map((d) => d.outcome)).toEqual(['won', 'conflict', 'won']);
    expect(r.conflicts).toHaveLength(1);
    expect(r.conflicts[0]).toMatchObject({
      flow: 'contacts',
      key: 'k1',
      field: 'name',
      current: { value: 'Ann', source: 'crm' },
      incoming: { value: 'Anna', source: 'erp' },
    });
    // The conflict id does not depend on arrival order.
    const reversed = merge(flow, [up('erp', 3, { phone: '555' }, { id: 'x3' }), up('erp', 2, { name: 'Anna' }, { id: 'x2' }), up('crm', 1, { name: 'Ann', city: 'Oslo' }, { id: 'x1' })]);
    const inOrder = merge(flow, [up('crm', 1, { name: 'Ann', city: 'Oslo' }, { id: 'x1' }), up('erp', 2, { name: 'Anna' }, { id: 'x2' }), up('erp', 3, { phone: '555' }, { id: 'x3' })]);
    expect(reversed.conflicts.map((c) => c.id)).toEqual(inOrder.conflicts.map((c) => c.id));
  });

  it('an edit whose before acknowledges the other value is not a conflict', () => {
    const r = merge(flow, [up('crm', 1, { name: 'Ann' }), up('erp', 2, { name: 'Anna' }, { before: { name: 'Ann' } })]);
    expect(r.conflicts).toEqual([]);
    expect(r.view.data).toEqual({ name: 'Anna' });
    expect(r.decisions.map((d) => d.outcome)).toEqual(['won', 'won']);
  });

  it('edits further apart than concurrencyWindow are not concurrent', () => {
    const windowed = flowWith({ strategy: 'manual', concurrencyWindow: '1 minute' });
    const r = merge(windowed, [up('crm', 0, { name: 'Ann' }), up('erp', 120_000, { name: 'Anna' })]);
    expect(r.conflicts).toEqual([]);
    expect(r.view.data).toEqual({ name: 'Anna' });
    expect(merge(windowed, [up('crm', 0, { name: 'Ann' }), up('erp', 30_000, { name: 'Anna' })]).conflicts).toHaveLength(1);
  });

  it('a resolution closes the conflict and its value dominates older writes', () => {
    const open = merge(flow, [up('crm', 1000, { name: 'Ann' }), up('erp', 2000, { name: 'Anna' })]);
    const [conflict] = open.conflicts;
    const fix = resolutionChange(conflict, { choose: 'incoming' }, 1500, 'alice');
    expect(fix).toMatchObject({ source: 'syncline:review', op: 'upsert', key: 'k1', data: { name: 'Anna' }, ts: 2001 });
    const r = merge(flow, [fix], open.doc);
    expect(r.conflicts).toEqual([]);
    expect(r.view.data).toEqual({ name: 'Anna' });
    expect(r.view.clocks.name.src).toBe('syncline:review');
    expect(r.decisions[0].outcome).toBe('won');
    // A delayed write from before the resolution no longer counts.
    const late = merge(flow, [up('crm', 1500, { name: 'Late' })], r.doc);
    expect(late.decisions[0]).toMatchObject({ outcome: 'superseded', reason: 'name older than resolution ts=2001 from syncline:review' });
    expect(late.conflicts).toEqual([]);
    expect(late.changed).toBe(false);
  });

  it('a resolution can set a new value, and its ts dominates both sides and the resolution time', () => {
    const open = merge(flow, [up('crm', 1000, { name: 'Ann' }), up('erp', 2000, { name: 'Anna' })]);
    const fix = resolutionChange(open.conflicts[0], { value: 'Ann-Marie' }, 5000, 'bob');
    expect(fix.ts).toBe(5001);
    const r = merge(flow, [fix], open.doc);
    expect(r.view.data).toEqual({ name: 'Ann-Marie' });
    expect(r.conflicts).toEqual([]);
  });

  it('a field a change carries unchanged is not an edit: edits of different fields merge with no conflict', () => {
    const seed = up('crm', 1, { name: 'n0', email: 'e0' });
    const a = up('crm', 5, { name: 'n-a', email: 'e0' }, { before: { name: 'n0', email: 'e0' } });
    const b = up('erp', 5, { name: 'n0', email: 'e-b' }, { before: { name: 'n0', email: 'e0' } });
    for (const changes of [[seed, a, b], [seed, b, a], [b, a, seed]]) {
      const r = merge(flow, changes);
      expect(r.view.data).toEqual({ name: 'n-a', email: 'e-b' });
      expect(r.conflicts).toEqual([]);
    }
  });

  it('an open conflict stays open when its side later carries the field unchanged', () => {
    const open = merge(flow, [up('crm', 1, { name: 'Ann' }), up('erp', 2, { name: 'Anna' })]);
    const r = merge(flow, [up('crm', 3, { name: 'Ann', email: 'a@x' }, { before: { name: 'Ann' } })], open.doc);
    expect(r.conflicts.map((c) => [c.field, c.current.value, c.incoming.value])).toEqual([['name', 'Ann', 'Anna']]);
  });

  it('a later edit that saw the displayed value settles the conflict', () => {
    const r = merge(flow, [up('crm', 1, { name: 'Ann' }), up('erp', 2, { name: 'Anna' }), up('crm', 3, { name: 'Anna' }, { before: { name: 'Ann' } })]);
    expect(r.conflicts).toEqual([]);
    expect(r.view.data).toEqual({ name: 'Anna' });
  });
});

describe('docs', () => {
  it('start empty and survive a JSON round trip', () => {
    const flow = flowWith({ strategy: 'manual' });
    expect(viewOf(flow, emptyDoc(flow))).toMatchObject({ data: null, deleted: false, clocks: {} });
    const r = merge(flow, [up('crm', 1, { name: 'Ann' }), up('erp', 2, { name: 'Anna' })]);
    const stored = JSON.parse(JSON.stringify(r.doc)) as MergeDoc;
    expect(stored).toEqual(r.doc);
    expect(viewOf(flow, stored)).toEqual(r.view);
  });

  it('carry over when a flow switches strategy', () => {
    const before = merge(flowWith({ strategy: 'field-lww' }), [up('crm', 1, { name: 'A' }), up('erp', 2, { email: 'e' })]);
    const r = merge(flowWith({ strategy: 'lww' }), [], before.doc);
    expect(r.doc.s).toBe('lww');
    expect(r.view.data).toEqual({ email: 'e' });
  });
});

describe('a deleted record under every strategy', () => {
  it.each([
    { conflict: { strategy: 'lww' }, tombTs: 30 },
    { conflict: { strategy: 'field-lww' }, tombTs: 30 },
    // The delete that wins under the default ranking: crm's, though erp's came later.
    { conflict: { strategy: 'priority', priority: { '*': ['crm', 'erp'] } }, tombTs: 20 },
    { conflict: { strategy: 'manual' }, tombTs: 30 },
  ])('$conflict.strategy: its view carries the clock of the delete, the time targets are told', ({ conflict, tombTs }) => {
    // Prepare
    const flow = flowWith(conflict);

    // Act
    const { view } = merge(flow, [up('crm', 10, { id: 'k1', name: 'Ada' }), del('crm', 20), del('erp', 30)]);
    const after = merge(flow, [up('crm', 40, { id: 'k1', name: 'Ada' })], merge(flow, [del('crm', 20)]).doc).view;

    // Assess
    expect(view.deleted).toBe(true);
    expect(view.tomb?.ts).toBe(tombTs);
    expect(changeTimeOf(view)).toBe(tombTs);
    expect(after.deleted).toBe(false);
    expect(after.tomb).toBeUndefined();
  });

  it('priority: an outranked delete that removed nothing is not the time of a later delete, whatever the arrival order', () => {
    // Prepare: erp's delete at 900 leaves crm's record; crm's own delete at 60 removes it.
    const flow = flowWith({ strategy: 'priority', priority: { '*': ['crm', 'erp'] } });
    const changes = [up('crm', 50, { id: 'k1', name: 'Ada' }), del('erp', 900), del('crm', 60)];

    // Act
    const views = [changes, [...changes].reverse(), [changes[1]!, changes[0]!, changes[2]!]].map((order) => merge(flow, order).view);

    // Assess
    for (const v of views) expect(v).toMatchObject({ deleted: true, tomb: { ts: 60, src: 'crm' } });
  });

  it("priority: with a field ranked otherwise, the delete that removed the record's last field is its time", () => {
    // Prepare: crm's delete at 20 removes name but not email (erp ranks first there); erp's at 30 removes email.
    const flow = flowWith({ strategy: 'priority', priority: { '*': ['crm', 'erp'], email: ['erp', 'crm'] } });

    // Act
    const { view } = merge(flow, [up('crm', 10, { name: 'Ada', email: 'a@crm.io' }), up('erp', 11, { email: 'a@erp.io' }), del('crm', 20), del('erp', 30)]);

    // Assess
    expect(view).toMatchObject({ deleted: true, tomb: { ts: 30, src: 'erp' } });
  });
});

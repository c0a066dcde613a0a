import { beforeEach, describe, expect, it } from 'vitest';
import { eventId, type ChangeEnvelope, type TruncateMessage } from '../../../functions/core/envelope';
import { createResolveHandler } from '../../../functions/handlers/resolve-handler';
import type { DeliveryMessage } from '../../../functions/handlers/step-messages';
import { flowSchema } from '../../../functions/config/schema';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryConflictStore, InMemoryQuarantineStore, InMemoryStateStore, sqsEvent } from '../../fixtures/fakes';

const flow = flowSchema.parse({
  id: 'cdc',
  key: ['id'],
  sources: [
    { id: 'pg', type: 'webhook', format: 'debezium', onTruncate: 'delete' },
    { id: 'crm', type: 'webhook' },
  ],
  transform: {},
  targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
  audit: { level: 'all' },
});
const RESOLVE = 'https://sqs.local/cdc-resolve';
const DELIVER = 'https://sqs.local/cdc-deliver-replica';

/** A Debezium change as transform passes it on: `tbl` is set because the source deletes on truncate. */
const change = (key: string, pos: string, data: Record<string, unknown>, table = 'public.customers'): ChangeEnvelope => ({
  v: 1,
  id: eventId('pg', key, pos),
  flow: 'cdc',
  source: 'pg',
  key,
  op: 'upsert',
  data: { id: key, ...data },
  ts: 1_000,
  seq: pos,
  pos,
  tbl: table,
  lineage: [],
});

const truncate: TruncateMessage = { v: 1, kind: 'truncate', id: 'trunc-1', flow: 'cdc', source: 'pg', table: 'public.customers', ts: 2_000, seq: '0000000050', pos: '0000000050', at: 2_000 };

describe('resolve: onTruncate "delete"', () => {
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let publisher: FakePublisher;
  const make = () =>
    createResolveHandler({
      flow,
      stateStore: state,
      audit,
      conflicts: new InMemoryConflictStore(),
      quarantine: new InMemoryQuarantineStore(),
      publisher,
      deliverQueueUrls: { replica: DELIVER },
      clock: new FakeClock(),
      truncates: { index: state, resolveQueueUrl: RESOLVE, pageSize: 2 },
    });
  /** Feeds what resolve sent to its own queue back to it, as SQS would, until nothing is left. */
  const drainResolveQueue = async () => {
    for (let round = 0; round < 20; round++) {
      const pending = publisher.sent.get(RESOLVE) ?? [];
      if (pending.length === 0) return round;
      publisher.sent.set(RESOLVE, []);
      const res = await make()(sqsEvent(pending.map((m) => m.body), `r${round}-`));
      expect(res.batchItemFailures).toEqual([]);
    }
    throw new Error('the resolve queue never drained');
  };

  beforeEach(() => {
    state = new InMemoryStateStore();
    audit = new InMemoryAuditLog();
    publisher = new FakePublisher();
  });

  it('deletes every key the source holds for the truncated table, a page per message, and keeps what changed after it', async () => {
    // Prepare: three rows of the table, one of another table, one from a source that does not delete on truncate.
    await make()(sqsEvent([change('1', '0000000001', { n: 1 }), change('2', '0000000002', { n: 2 }), change('3', '0000000003', { n: 3 }), change('9', '0000000004', { n: 9 }, 'public.orders')]));
    await make()(sqsEvent([{ v: 1, id: 'crm-5', flow: 'cdc', source: 'crm', key: '5', op: 'upsert', data: { id: '5' }, ts: 1_000, seq: 'w5', lineage: [] }]));
    expect(state.items.get('cdc#1')?.truncateScope).toBe('cdc#pg#public.customers');
    expect(state.items.get('cdc#9')?.truncateScope).toBe('cdc#pg#public.orders');
    expect(state.items.get('cdc#5')?.truncateScope).toBeUndefined();

    // Act: the truncate, then an insert of row 2 logged after it that reaches resolve before the deletes do.
    const first = await make()(sqsEvent([truncate]));
    const sentByTruncate = (publisher.sent.get(RESOLVE) ?? []).map((m) => JSON.parse(m.body) as ChangeEnvelope & { cursor?: string });
    await make()(sqsEvent([change('2', '0000000060', { n: 22 })]));
    const rounds = await drainResolveQueue();

    // Assess: one page of two deletes plus the truncate again with a cursor; then the rest.
    expect(first.batchItemFailures).toEqual([]);
    expect(sentByTruncate.map((m) => [m.key ?? 'next', m.op ?? 'truncate', m.pos, m.ts])).toEqual([
      ['1', 'delete', '0000000050', 2_000],
      ['2', 'delete', '0000000050', 2_000],
      ['next', 'truncate', '0000000050', 2_000],
    ]);
    expect(sentByTruncate[2]!.cursor).toEqual(expect.any(String));
    expect(rounds).toBeGreaterThanOrEqual(2);
    const view = (key: string) => state.items.get(`cdc#${key}`)!.view;
    expect([view('1').deleted, view('3').deleted]).toEqual([true, true]);
    expect(view('2')).toMatchObject({ deleted: false, data: { id: '2', n: 22 } });
    expect(view('9')).toMatchObject({ deleted: false, data: { id: '9', n: 9 } });
    expect(view('5')).toMatchObject({ deleted: false });
    // A deleted key leaves the index: a second truncate finds only row 2, written after the first.
    expect(state.items.get('cdc#1')?.truncateScope).toBeUndefined();
    expect((await state.keysInTruncateScope('cdc', 'cdc#pg#public.customers', 10)).keys).toEqual(['2']);
    // Each deleted key is delivered and audited as a won delete.
    const deliveredKeys = (publisher.sent.get(DELIVER) ?? []).map((m) => (JSON.parse(m.body) as DeliveryMessage).key);
    expect(deliveredKeys).toEqual(expect.arrayContaining(['1', '3']));
    expect(audit.entries.filter((e) => e.step === 'resolve' && e.reason === 'deleted').map((e) => e.key).sort()).toEqual(['1', '3']);
  });

  it('deletes a row whose change from before the truncate reaches resolve after the truncate was expanded, and keeps one from after', async () => {
    // Prepare: Debezium Server sent 50 inserts and then the truncate in one batch; the truncate got through first.
    await make()(sqsEvent([truncate]));
    await drainResolveQueue();

    // Act: an insert logged before the truncate (position 40), one logged after it (60), and the first one again.
    await make()(sqsEvent([change('7', '0000000040', { n: 7 }), change('8', '0000000060', { n: 8 })]));
    await make()(sqsEvent([change('7', '0000000040', { n: 7 })], 'again-'));

    // Assess: row 7 ends deleted, by the truncate's delete (the expansion's id for that key); row 8 stays.
    expect(state.items.get('cdc#7')!.view.deleted).toBe(true);
    expect(state.items.get('cdc#8')!.view).toMatchObject({ deleted: false, data: { id: '8', n: 8 } });
    const decided = audit.entries.filter((e) => e.step === 'resolve' && e.key === '7');
    expect(decided.map((e) => [e.eventId, e.outcome])).toEqual(expect.arrayContaining([[eventId('trunc-1', '7'), 'won'], [eventId('pg', '7', '0000000040'), 'superseded']]));
    expect(state.marks.get('cdc#pg#public.customers')).toMatchObject({ id: 'trunc-1', pos: '0000000050' });
    // A later truncate moves the mark; an earlier one (a retried old message) does not.
    await state.markTruncated('cdc', 'cdc#pg#public.customers', { ...truncate, id: 'old', pos: '0000000010' });
    expect(state.marks.get('cdc#pg#public.customers')!.id).toBe('trunc-1');
  });

  it('keeps a key whose change of another table came between the late change and the truncate, as in log order', async () => {
    // Prepare: key 9 was an order (position 30) after it was a customer (10); customers is truncated at 50.
    await make()(sqsEvent([change('9', '0000000030', { b: 2 }, 'public.orders')]));
    await make()(sqsEvent([truncate]));
    await drainResolveQueue();

    // Act: the customer change (position 10) arrives last.
    await make()(sqsEvent([change('9', '0000000010', { a: 1 })]));

    // Assess: in log order the truncate found the key listed under orders, and kept it.
    expect(state.items.get('cdc#9')!.view).toMatchObject({ deleted: false, data: { id: '9', b: 2 } });

    // The same when both changes of a new key arrive together, after the truncate.
    await make()(sqsEvent([change('10', '0000000030', { b: 2 }, 'public.orders'), change('10', '0000000010', { a: 1 })]));
    expect(state.items.get('cdc#10')!.view).toMatchObject({ deleted: false, data: { id: '10', b: 2 } });
  });

  it('deletes a key whose change of another table came before the late change, as in log order', async () => {
    // Prepare: key 8 was an order (position 5) before it was a customer (10); customers is truncated at 50.
    await make()(sqsEvent([change('8', '0000000005', { b: 2 }, 'public.orders')]));
    await make()(sqsEvent([truncate]));
    await drainResolveQueue();

    // Act: the customer change (position 10) arrives last.
    await make()(sqsEvent([change('8', '0000000010', { a: 1 })]));

    // Assess: in log order the key was a customer when the table was truncated.
    expect(state.items.get('cdc#8')!.view.deleted).toBe(true);
  });

  it('merges a repeated page as a repeat: the same delete ids, nothing delivered twice', async () => {
    // Prepare
    await make()(sqsEvent([change('1', '0000000001', { n: 1 })]));
    await make()(sqsEvent([truncate]));
    const deletes = publisher.sent.get(RESOLVE)!.map((m) => m.body);

    // Act: the truncate is received again (its first receive timed out after sending), and both pages are merged.
    publisher.sent.set(RESOLVE, []);
    await make()(sqsEvent([truncate], 'again-'));
    const again = publisher.sent.get(RESOLVE)!.map((m) => m.body);
    publisher.sent.set(DELIVER, []);
    await make()(sqsEvent([...deletes, ...again]));

    // Assess
    expect(again).toEqual(deletes);
    expect(publisher.sent.get(DELIVER)).toHaveLength(1);
    expect(state.items.get('cdc#1')!.view.deleted).toBe(true);
  });

  it('audits a truncate given up on its last receive as failed, under its id, and fails only its message', async () => {
    // Prepare: the index cannot be read; the truncate is on its fifth receive, beside a change.
    await make()(sqsEvent([change('1', '0000000001', { n: 1 })]));
    state.keysInTruncateScope = async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
    };
    const event = sqsEvent([truncate, change('2', '0000000002', { n: 2 })], 'last-');
    event.Records[0]!.attributes.ApproximateReceiveCount = '5';

    // Act
    const res = await make()(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'last-0' }]);
    const failed = audit.entries.filter((e) => e.outcome === 'failed');
    expect(failed).toEqual([
      expect.objectContaining({ step: 'resolve', key: '', source: 'pg', eventId: 'trunc-1', reason: expect.stringMatching(/^gave up after 5 attempts, the message goes to the DLQ: truncate expansion failed: ProvisionedThroughputExceededException/) }),
    ]);
    expect(state.items.get('cdc#2')?.version).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { createQuarantineReplay } from '../../../functions/handlers/quarantine-replay';
import type { QuarantineItem } from '../../../functions/ports';
import { fakeStepContext } from '../../fixtures/step-context';

const Q = 'https://sqs.local/orders-transform';
const R = 'https://sqs.local/orders-resolve';

function item(id: string, at: number, extra: Partial<QuarantineItem> = {}): QuarantineItem {
  return {
    flow: 'orders',
    id,
    source: 'app',
    at,
    reason: 'schema',
    errors: ['must have currency'],
    record: { id, amount: 1, email: '***' },
    envelope: { v: 1, id, flow: 'orders', source: 'app', key: id, op: 'upsert', ts: 100, seq: 'w#0', lineage: [{ step: 'capture', at: 90, outcome: 'captured' }, { step: 'transform', at, outcome: 'quarantined' }] },
    ...extra,
  };
}

function setup() {
  const { quarantine, publisher, clock } = fakeStepContext({ now: 5_000 });
  const replay = createQuarantineReplay({ transformQueues: new Map([['orders', Q]]), resolveReplays: new Map([['orders', { queueUrl: R, transform: 'now' }]]), quarantine, publisher, clock });
  return { quarantine, publisher, replay };
}

describe('quarantine replay', () => {
  it('re-sends the stored envelope with the masked record as data and a replay step, then removes the item', async () => {
    const { quarantine, publisher, replay } = setup();
    await quarantine.put([item('a', 1_000), item('b', 2_000)]);
    const answer = await replay.replay('orders', { ids: ['a', 'zz'] });
    expect(answer).toMatchObject({ status: 200, body: { replayed: 1, failed: 0, skipped: 0, notFound: ['zz'] } });
    const [env] = publisher.bodies(Q);
    expect(env).toMatchObject({ id: 'a', key: 'a', data: { id: 'a', amount: 1, email: '***' } });
    expect((env as { lineage: unknown[] }).lineage.at(-1)).toEqual({ step: 'transform', at: 5_000, outcome: 'replayed' });
    expect((await quarantine.list('orders')).items.map((i) => i.id)).toEqual(['b']);
  });

  it('keeps what could not be sent, skips poison messages, and validates the body', async () => {
    const { quarantine, publisher, replay } = setup();
    await quarantine.put([item('a', 1_000), item('b', 2_000), item('p', 3_000, { source: 'unknown', record: {} })]);
    publisher.failWhen = (m) => (JSON.parse(m.body) as { id: string }).id === 'b';
    const answer = await replay.replay('orders', { all: true });
    expect(answer.body).toMatchObject({ replayed: 1, failed: 1, skipped: 1, ids: { replayed: ['a'], failed: ['b'], skipped: ['p'] } });
    expect((await quarantine.list('orders')).items.map((i) => i.id).sort()).toEqual(['b', 'p']);
    for (const bad of [undefined, {}, { all: false }, { ids: [] }, { ids: ['a'], all: true }, { ids: [1] }, { all: true, x: 1 }]) {
      expect((await replay.replay('orders', bad)).status).toBe(400);
    }
    expect((await replay.replay('nope', { all: true })).status).toBe(404);
  });

  it('answers an id longer than any sort key with 400 naming it, before reading the table (DynamoDB would refuse the whole read)', async () => {
    const { quarantine, publisher, replay } = setup();
    await quarantine.put([item('a', 1_000)]);
    const answer = await replay.replay('orders', { ids: ['a', 'é'.repeat(513)] });
    expect(answer).toEqual({ status: 400, body: { message: 'ids[1] is 1026 bytes; no quarantine id is longer than 1024 bytes' } });
    expect(publisher.bodies(Q)).toEqual([]);
    expect((await replay.replay('orders', { ids: ['a', 'x'.repeat(1024)] })).body).toMatchObject({ replayed: 1, notFound: ['x'.repeat(1024)] });
  });

  it('skips a record quarantined at capture: its stored copy is not the record as sent and has no source time', async () => {
    // Prepare: capture kept a storable copy of a record with a __proto__ field and an unreadable timestamp.
    const { quarantine, publisher, replay } = setup();
    const atCapture = item('c', 1_000, {
      reason: 'record cannot be carried exactly: $ has a field named __proto__, which the DynamoDB marshaller cannot store',
      record: { id: 'c', '(__proto__)': { x: 1 } },
      envelope: { v: 1, id: 'c', flow: 'orders', source: 'app', key: '', op: 'upsert', ts: 1_000, seq: 'w#0', lineage: [{ step: 'capture', at: 1_000, outcome: 'quarantined' }] },
    });
    await quarantine.put([atCapture, item('t', 2_000)]);

    // Act
    const answer = await replay.replay('orders', { all: true });

    // Assess
    expect(answer.body).toMatchObject({ replayed: 1, skipped: 1, ids: { replayed: ['t'], skipped: ['c'] } });
    expect(publisher.bodies(Q).map((e) => (e as { id: string }).id)).toEqual(['t']);
    expect((await quarantine.list('orders')).items.map((i) => i.id)).toEqual(['c']);
  });

  it('sends a change that resolve quarantined (its merged record was too large) back to resolve, not through the transform again', async () => {
    // Prepare: the stored record is the transformed one; running the transform on it again would rename and mask twice.
    const { quarantine, publisher, replay } = setup();
    const byResolve = item('r', 1_000, {
      reason: 'the merged record would not fit its state item',
      transform: 'now',
      envelope: {
        v: 1, id: 'r', flow: 'orders', source: 'app', key: 'r', op: 'upsert', ts: 100, seq: 'w#0',
        lineage: [{ step: 'capture', at: 90, outcome: 'captured' }, { step: 'transform', at: 95, outcome: 'passed' }, { step: 'resolve', at: 1_000, outcome: 'quarantined' }],
      },
    });
    await quarantine.put([byResolve, item('t', 2_000)]);

    // Act
    const answer = await replay.replay('orders', { all: true });

    // Assess
    expect(answer.body).toMatchObject({ replayed: 2, failed: 0 });
    expect(publisher.bodies(R)).toEqual([expect.objectContaining({ id: 'r', key: 'r', data: byResolve.record })]);
    expect((publisher.bodies(R)[0] as { lineage: unknown[] }).lineage.at(-1)).toEqual({ step: 'resolve', at: 5_000, outcome: 'replayed' });
    expect(publisher.bodies(Q).map((e) => (e as { id: string }).id)).toEqual(['t']);
    expect((await quarantine.list('orders')).items).toEqual([]);
  });

  it('skips a change resolve quarantined under another transform: sent to resolve, it would miss the current one (a new mask)', async () => {
    // Prepare
    const { quarantine, publisher, replay } = setup();
    const lineage = [{ step: 'capture' as const, at: 90, outcome: 'captured' }, { step: 'transform' as const, at: 95, outcome: 'passed' }, { step: 'resolve' as const, at: 1_000, outcome: 'quarantined' }];
    const old = item('o', 1_000, { transform: 'before', envelope: { v: 1, id: 'o', flow: 'orders', source: 'app', key: 'o', op: 'upsert', ts: 100, seq: 'w#0', lineage } });
    await quarantine.put([old]);

    // Act
    const answer = await replay.replay('orders', { all: true });

    // Assess
    expect(answer.body).toMatchObject({ replayed: 0, skipped: 1, ids: { skipped: ['o'] } });
    expect(publisher.bodies(R)).toEqual([]);
    expect(publisher.bodies(Q)).toEqual([]);
    expect((await quarantine.list('orders')).items.map((i) => i.id)).toEqual(['o']);
  });

  it('does not remove an item quarantined again (newer at) while the replay ran', async () => {
    const { quarantine } = setup();
    await quarantine.put([item('a', 2_000)]);
    expect(await quarantine.delete([{ flow: 'orders', id: 'a', at: 1_000 }])).toEqual([]);
    expect((await quarantine.list('orders')).items).toHaveLength(1);
  });
});

import { describe, expect, it } from 'vitest';
import { mergeChanges } from '../../../functions/core/merge';
import { createDeliverDynamoDbHandler } from '../../../functions/handlers/deliver-dynamodb-handler';
import { flowStatus, lagOf, undeclaredPiiOf } from '../../../functions/handlers/flow-status';
import type { AuditEntry } from '../../../functions/ports';
import { InMemoryAuditLog, InMemoryTargetWriter, sqsEvent } from '../../fixtures/fakes';
import { contactsFlow } from '../../fixtures/flows';
import { fakeStepContext } from '../../fixtures/step-context';

const base = { flow: 'f', source: 's', key: 'k' } as const;
const delivered = (at: number, eventId: string, ts?: number): AuditEntry => ({
  ...base,
  step: 'deliver',
  outcome: 'delivered',
  at,
  eventId,
  detail: { eventIds: [eventId], ...(ts !== undefined ? { ts } : {}) },
});

describe('status lag', () => {
  it('measures each delivery from its source ts: latest, p50, p99 and max', () => {
    // Prepare: 100 deliveries whose lag is 10, 20, ... 1000 ms, the newest the slowest.
    const entries = Array.from({ length: 100 }, (_, i) => delivered(10_000 + i, `e${i}`, 10_000 + i - (i + 1) * 10));

    // Act
    const lag = lagOf(entries);

    // Assess
    expect(lag).toEqual({ latestMs: 1_000, p50Ms: 500, p99Ms: 990, maxMs: 1_000, samples: 100, from: 'source' });
  });

  it('falls back to the capture entry for deliveries written without ts, newest first', () => {
    const lag = lagOf([
      { ...base, step: 'capture', outcome: 'captured', at: 1_000, eventId: 'e1' },
      { ...base, step: 'capture', outcome: 'captured', at: 2_000, eventId: 'e2' },
      delivered(1_500, 'e1'),
      delivered(2_100, 'e2'),
      delivered(3_000, 'e9'),
    ]);
    expect(lag).toEqual({ latestMs: 100, p50Ms: 100, p99Ms: 500, maxMs: 500, samples: 2, from: 'capture' });
    expect(lagOf([delivered(3_000, 'e9')])).toBeUndefined();
  });

  it('says when the samples mix source and capture times', () => {
    const lag = lagOf([{ ...base, step: 'capture', outcome: 'captured', at: 1_000, eventId: 'old' }, delivered(1_400, 'old'), delivered(5_000, 'new', 4_900)]);
    expect(lag).toMatchObject({ latestMs: 100, maxMs: 400, samples: 2, from: 'mixed' });
  });

  it('is measured from the source ts a delivery handler audits, not from capture', async () => {
    // Prepare: a change with source ts 4242 merged into state, captured much later.
    const { clock, audit, state } = fakeStepContext();
    const merged = mergeChanges(contactsFlow, undefined, [{ v: 1, id: 'e-c1', flow: 'contacts', source: 'crm', key: 'c1', op: 'upsert', data: { id: 'c1' }, ts: 4242, seq: '1', lineage: [] }]);
    state.seed({ flow: 'contacts', key: 'c1', version: 1, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 1 });
    await audit.write([{ flow: 'contacts', key: 'c1', step: 'capture', at: clock.now() - 10, source: 'crm', eventId: 'e-c1', outcome: 'captured' }]);
    const handler = createDeliverDynamoDbHandler({ flow: contactsFlow, targetId: 'replica', stateStore: state, writer: new InMemoryTargetWriter(), audit, clock });

    // Act
    await handler(sqsEvent([{ v: 1, flow: 'contacts', key: 'c1', version: 1, hash: 'h', ts: 4242, eventIds: ['e-c1'] }]));
    const lag = lagOf(audit.entries);

    // Assess
    expect(audit.entries.find((e) => e.step === 'deliver')?.detail).toMatchObject({ ts: 4242 });
    expect(lag).toMatchObject({ latestMs: clock.now() - 4242, samples: 1, from: 'source' });
  });
});

describe('flowStatus', () => {
  it('reports each queue with its DLQ, on-failure queues without one, and the last hour by outcome', async () => {
    // Prepare
    const now = 10 * 3_600_000;
    const audit = new InMemoryAuditLog();
    await audit.write([
      { ...base, step: 'capture', outcome: 'captured', at: now - 3_700_000, eventId: 'old' },
      { ...base, step: 'capture', outcome: 'captured', at: now - 60_000, eventId: 'e1' },
      { ...base, step: 'transform', outcome: 'quarantined', at: now - 50_000, eventId: 'e2' },
    ]);
    const depths = { depth: async (url: string) => (url === 'dlq-t' ? { visible: 1, inFlight: 0, total: 1 } : { visible: 0, inFlight: 2, total: 2 }) };

    // Act
    const status = await flowStatus(
      'f',
      [
        { id: 'transform', name: 'f-transform', url: 'q-t', dlqUrl: 'dlq-t' },
        { id: 'capture-s-failures', name: 'f-capture-s-dlq', url: 'q-f' },
      ],
      { depths, audit, now: () => now },
    );

    // Assess
    expect(status).toEqual({
      flow: 'f',
      at: now,
      windowMs: 3_600_000,
      queues: [
        { id: 'transform', name: 'f-transform', depth: { visible: 0, inFlight: 2, total: 2 }, dlq: { visible: 1, inFlight: 0, total: 1 } },
        { id: 'capture-s-failures', name: 'f-capture-s-dlq', depth: { visible: 0, inFlight: 2, total: 2 } },
      ],
      outcomes: { captured: 1, quarantined: 1 },
    });
  });
});

describe('status: PII to declare', () => {
  const flagged = (key: string, fields: string[]): AuditEntry => ({ ...base, key, step: 'resolve', outcome: 'won', at: 1, eventId: key, detail: { piiFlagged: fields } });

  it('counts flagged fields per record, leaving out declared ones and their parts, most frequent first', () => {
    // Act
    const fields = undeclaredPiiOf([flagged('a', ['email', 'phone', 'contacts.0.email']), flagged('b', ['phone']), flagged('c', ['iban'])], ['email', 'contacts']);

    // Assess
    expect(fields).toEqual([
      { field: 'phone', records: 2 },
      { field: 'iban', records: 1 },
    ]);
  });
});

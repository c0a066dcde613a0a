import { describe, expect, it } from 'vitest';
import { recordLineage } from '../../../functions/handlers/record-lineage';
import { keepRecent } from '../../../functions/handlers/resolve-audit';
import { RECENT_DECISIONS, type AuditEntry, type StoredState } from '../../../functions/ports';
import { contactsFlow, ordersFlow } from '../../fixtures/flows';

const decision = (i: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  flow: 'contacts',
  key: 'c1',
  step: 'resolve',
  at: 1_000 + i,
  source: 'crm',
  eventId: `e${i}`,
  outcome: 'won',
  version: i,
  detail: { captured: { at: 500 + i, op: 'upsert' } },
  ...extra,
});
const stateWith = (recent: AuditEntry[]): StoredState => ({
  flow: 'contacts',
  key: 'c1',
  version: recent.length,
  doc: { s: 'lww', k: 'c1' },
  view: { data: { id: 'c1' }, deleted: false, clocks: {}, hash: 'h' },
  delivered: {},
  updatedAt: 1,
  recent,
});

describe('keepRecent: the decisions a state write keeps for lineage', () => {
  it('keeps the latest decisions, marks this write\'s kept ones as held by the state and hands back the earlier ones that leave it', () => {
    // Prepare
    const earlier = [1, 2, 3].map((i) => decision(i));
    const fresh = [4, 5].map((i) => decision(i));

    // Act
    const kept = keepRecent(contactsFlow, stateWith(earlier), fresh);

    // Assess
    expect(kept.recent.map((e) => e.eventId)).toEqual(['e2', 'e3', 'e4', 'e5'].slice(-RECENT_DECISIONS));
    expect(kept.archived.map((e) => e.eventId)).toEqual(['e1']);
    expect(kept.entries.map((e) => e.heldBy)).toEqual(['state', 'state']);
  });

  it('writes out a write\'s own decisions beyond what the state item keeps as entry items', () => {
    // Act
    const kept = keepRecent(contactsFlow, undefined, [1, 2, 3, 4, 5, 6].map((i) => decision(i)));

    // Assess
    expect(kept.recent).toHaveLength(RECENT_DECISIONS);
    expect(kept.entries.filter((e) => e.heldBy === undefined).map((e) => e.eventId)).toEqual(['e1', 'e2']);
    expect(kept.archived).toEqual([]);
  });

  it('keeps nothing the audit level drops', () => {
    // Act: ordersFlow audits decisions, so a won decision is kept; an errors-only flow keeps none.
    const errorsOnly = { ...ordersFlow, audit: { ...ordersFlow.audit, level: 'errors' as const } };

    // Assess
    expect(keepRecent(ordersFlow, undefined, [decision(1)]).recent).toHaveLength(1);
    expect(keepRecent(errorsOnly, undefined, [decision(1)]).recent).toEqual([]);
  });
});

describe('recordLineage', () => {
  it('joins entry items and the state\'s recent decisions, shows each capture from its decision, oldest first, without repeats', () => {
    // Prepare: e1's decision was archived to an entry item and is still in the state too; e2 was filtered earlier.
    const items = [decision(1), decision(0, { step: 'transform', outcome: 'filtered', at: 900, detail: { captured: { at: 400, op: 'upsert', position: 'lsn:1' } } })];
    const state = stateWith([decision(1), decision(2, { detail: { captured: { at: 502, op: 'delete' }, piiFlagged: ['phone'] } })]);

    // Act
    const lineage = recordLineage(items, state);

    // Assess
    expect(lineage.map((e) => `${e.at}:${e.step}:${e.outcome}:${e.eventId}`)).toEqual([
      '400:capture:captured:e0',
      '501:capture:captured:e1',
      '502:capture:captured:e2',
      '900:transform:filtered:e0',
      '1001:resolve:won:e1',
      '1002:resolve:won:e2',
    ]);
    expect(lineage[0]!.detail).toEqual({ op: 'upsert', position: 'lsn:1' });
    expect(lineage[5]!.detail).toEqual({ piiFlagged: ['phone'] });
    expect(lineage[4]!.detail).toBeUndefined();
  });

  it("shows an echo's capture beside the original capture of the change it relays, under the same event id", () => {
    // Prepare: e1 won (kept by the state); its echo came back later and was audited as an entry item.
    const echo = decision(1, { at: 3001, outcome: 'echo', reason: 'echo of this flow', detail: { captured: { at: 3000, op: 'upsert' } } });

    // Act
    const lineage = recordLineage([echo], stateWith([decision(1)]));

    // Assess
    expect(lineage.map((e) => `${e.at}:${e.step}:${e.outcome}:${e.eventId}`)).toEqual(['501:capture:captured:e1', '1001:resolve:won:e1', '3000:capture:captured:e1', '3001:resolve:echo:e1']);
  });

  it("keeps the original capture when a stream source audited the echo's capture as an item of its own (two-way sync)", () => {
    // Prepare: e1 won; table B's stream brought syncline's own write back, audited at capture with `echoOf`.
    const echoCapture: AuditEntry = { flow: 'contacts', key: 'c1', step: 'capture', at: 3000, source: 'crm', eventId: 'e1', outcome: 'captured', detail: { op: 'upsert', echoOf: 'b-to-a' } };
    const echo = decision(1, { at: 3001, outcome: 'echo', reason: 'echo of this flow', detail: { captured: { at: 3000, op: 'upsert' } } });

    // Act
    const lineage = recordLineage([echoCapture, echo], stateWith([decision(1)]));

    // Assess
    expect(lineage.map((e) => `${e.at}:${e.step}:${e.outcome}:${e.eventId}`)).toEqual(['501:capture:captured:e1', '1001:resolve:won:e1', '3000:capture:captured:e1', '3001:resolve:echo:e1']);
    expect(lineage[2]!.detail).toEqual({ op: 'upsert', echoOf: 'b-to-a' });
  });

  it('shows a capture entry of an earlier release once, without inventing another', () => {
    // Prepare
    const old: AuditEntry = { flow: 'contacts', key: 'c1', step: 'capture', at: 501, source: 'crm', eventId: 'e1', outcome: 'captured', detail: { op: 'upsert' } };

    // Act
    const lineage = recordLineage([old], stateWith([decision(1)]));

    // Assess
    expect(lineage.filter((e) => e.outcome === 'captured')).toHaveLength(1);
  });

  it('shows the latest delivery to each target from its marker, once even where an entry item of an earlier release has it', () => {
    // Prepare
    const state = {
      ...stateWith([decision(1)]),
      delivered: {
        replica: { version: 1, hash: 'h1', at: 2_000, eventIds: ['e1'] },
        lake: { version: 1, hash: 'h1', at: 2_100, eventIds: ['e1'], replayedBy: 'ana' },
        crm: { version: 1, hash: 'h1' },
      },
    };
    const old: AuditEntry = { flow: 'contacts', key: 'c1', step: 'deliver', at: 1_900, source: '', eventId: 'e1', outcome: 'delivered', version: 1, target: 'replica' };

    // Act
    const lineage = recordLineage([old], state);

    // Assess
    const deliveries = lineage.filter((e) => e.outcome === 'delivered');
    expect(deliveries.map((e) => `${e.target}@${e.at}`)).toEqual(['replica@1900', 'lake@2100']);
    expect(deliveries[1]).toMatchObject({ step: 'deliver', eventId: 'e1', version: 1, detail: { eventIds: ['e1'], hash: 'h1', replayedBy: 'ana' } });
    expect(lineage.at(-1)?.target).toBe('lake');
  });

  it('names on a delivery the source whose change made the delivered version', () => {
    // Prepare: version 1 came from crm, version 2 from erp; the replica has version 2, the lake still version 1.
    const state = {
      ...stateWith([decision(1), decision(2, { source: 'erp' })]),
      delivered: { replica: { version: 2, hash: 'h2', at: 2_000, eventIds: ['e2'] }, lake: { version: 1, hash: 'h1', at: 1_500, eventIds: ['e1'] } },
    };

    // Act
    const deliveries = recordLineage([], state).filter((e) => e.outcome === 'delivered');

    // Assess
    expect(Object.fromEntries(deliveries.map((e) => [e.target, e.source]))).toEqual({ replica: 'erp', lake: 'crm' });
  });
});

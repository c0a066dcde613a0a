import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../functions/config/schema';
import { createScheduleCaptureHandler, type ScheduleCaptureDeps, type ScheduleCaptureInput } from '../../../functions/handlers/schedule-capture-handler';
import { ArrayPullReader, InMemoryPullStateStore } from '../../fixtures/pull-fakes';
import { fakeCaptureDeps, fakeStepContext } from '../../fixtures/step-context';

const Q = 'https://sqs.test/contacts-transform';
const flow = flowSchema.parse({
  id: 'contacts',
  key: ['id'],
  sources: [{ id: 'crm', type: 'schedule', every: '5 minutes', http: { url: 'https://crm.test/contacts', itemsPath: 'data' }, deletes: { enabled: true, maxDeleteRatio: 0.3 } }],
  transform: { mask: { email: 'redact' } },
  targets: [{ id: 'replica', type: 'dynamodb' }],
});
const contact = (id: number, extra: Record<string, unknown> = {}) => ({ id, name: `c${id}`, email: `c${id}@example.com`, ...extra });

function setup(pages: unknown[][], overrides: Partial<ScheduleCaptureDeps> = {}) {
  const reader = new ArrayPullReader(pages);
  const step = fakeStepContext();
  const pullState = new InMemoryPullStateStore();
  const continued: ScheduleCaptureInput[] = [];
  const handler = createScheduleCaptureHandler({
    ...fakeCaptureDeps(step, flow, 'crm', Q),
    reader,
    pullState,
    continueSoon: async (input) => void continued.push(input),
    ...overrides,
  });
  const { publisher, audit, quarantine, metrics } = step;
  return { handler, reader, publisher, audit, quarantine, metrics, pullState, continued };
}

const scheduled = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.scheduler', detail: {} };

describe('schedule capture handler', () => {
  it('full mode: records removed between pulls become deletes; unchanged ones are not re-sent', async () => {
    // Prepare
    const t = setup([[contact(1), contact(2), contact(3)], [contact(4), contact(5)]]);
    const first = await t.handler({ action: 'schedule', sourceId: 'crm' });
    t.reader.pagesOf = [[contact(1), contact(2, { name: 'changed' }), contact(3)], [contact(4)]];
    // Act
    const second = await t.handler(scheduled);
    // Assess
    expect(first).toMatchObject({ pages: 2, records: 5, changed: 5, deletesInferred: 0, complete: true, quarantined: 0, continued: false });
    expect(second).toMatchObject({ pages: 2, records: 4, changed: 1, deletesInferred: 1, complete: true });
    const sent = t.publisher.bodies<{ op: string; data: Record<string, unknown>; source: string }>(Q);
    expect(sent.slice(5)).toEqual([
      expect.objectContaining({ op: 'upsert', data: contact(2, { name: 'changed' }) }),
      expect.objectContaining({ op: 'delete', data: { id: 5 }, source: 'crm' }),
    ]);
    expect(t.audit.entries.filter((e) => e.detail?.op === 'delete')).toEqual([expect.objectContaining({ key: '5', outcome: 'captured', reason: 'absent from a complete pull' })]);
  });

  it('refuses deletes beyond maxDeleteRatio: metric, audit entry, nothing sent', async () => {
    // Prepare
    const t = setup([[contact(1), contact(2), contact(3), contact(4)]]);
    await t.handler({ action: 'pull', sourceId: 'crm' });
    t.reader.pagesOf = [[contact(1), contact(2)]];
    // Act
    const summary = await t.handler({ action: 'pull', sourceId: 'crm' });
    // Assess
    expect(summary).toMatchObject({ deletesInferred: 0, deletesRefused: 2, complete: true });
    expect(t.metrics.counts.DeleteInferenceRefused).toBe(1);
    expect(t.audit.entries.at(-1)).toMatchObject({ key: '~pull/crm', outcome: 'skipped', reason: expect.stringContaining('above maxDeleteRatio 0.3') });
    expect(t.publisher.bodies<{ op: string }>(Q).filter((b) => b.op === 'delete')).toEqual([]);
  });

  it('a partial pull (source failing) infers no deletes and reports the error', async () => {
    // Prepare
    const t = setup([[contact(1), contact(2)], [contact(3)]]);
    await t.handler({ action: 'pull', sourceId: 'crm' });
    t.reader.pagesOf = [[contact(1)], [contact(3)]];
    t.reader.failAt = 1;
    // Act
    const summary = await t.handler({ action: 'pull', sourceId: 'crm' });
    // Assess: the run keeps its checkpoint and is not chained right away (the schedule retries it)
    expect(summary).toMatchObject({ complete: false, continued: true, deletesInferred: 0, error: 'HTTP 500 on page 2' });
    expect(t.continued).toEqual([]);
    expect(t.publisher.bodies<{ op: string }>(Q).some((b) => b.op === 'delete')).toBe(false);
  });

  it('quarantines bad items with reason and position and pulls the rest', async () => {
    // Prepare
    const t = setup([[contact(1), { name: 'no id', email: 'x@example.com' }, 'not an object', contact(4, { id: { nested: true } })], [contact(5)]]);
    // Act
    const summary = await t.handler({ action: 'pull', sourceId: 'crm' });
    // Assess
    expect(summary).toMatchObject({ records: 5, changed: 2, quarantined: 3, complete: true, deletesSkipped: expect.stringMatching(/^partial pull/) });
    const items = (await t.quarantine.list('contacts')).items;
    expect(items.map((i) => [i.position, i.reason]).sort()).toEqual([
      ['page 1 item 2', 'missing key field "id"'],
      ['page 1 item 3', 'item is a string, not an object'],
      ['page 1 item 4', 'key field "id" must be a string, number or boolean'],
    ]);
    const noId = items.find((i) => i.position === 'page 1 item 2')!;
    expect(noId.record.email).not.toBe('x@example.com');
    expect(t.metrics.counts.Quarantined).toBe(3);
  });

  it('continues a pull that reached its deadline in a new invocation', async () => {
    // Prepare
    let left = 2;
    const t = setup([[contact(1)], [contact(2)], [contact(3)]], { reserveMs: 30_000 });
    const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => (left-- > 0 ? 600_000 : 1_000) };
    // Act
    const first = await t.handler(scheduled, context);
    const second = await t.handler(t.continued[0], { awsRequestId: 'req-2', getRemainingTimeInMillis: () => 600_000 });
    // Assess
    expect(first).toMatchObject({ complete: false, continued: true });
    expect(t.continued).toEqual([{ action: 'continue', sourceId: 'crm' }]);
    expect(second).toMatchObject({ complete: true, continued: false, run: { records: 3, invocations: 2 } });
  });

  it('rejects an event that is neither a pull request nor a scheduled event, and a foreign source', async () => {
    const t = setup([]);
    await expect(t.handler({ hello: 'world' })).rejects.toThrow(/not a pull request or scheduled event/);
    await expect(t.handler({ action: 'pull', sourceId: 'erp' })).rejects.toThrow(/pulls source "crm"/);
    expect(() => createScheduleCaptureHandler({ ...({} as ScheduleCaptureDeps), flow, sourceId: 'nope' })).toThrow(/no schedule source "nope"/);
  });
});

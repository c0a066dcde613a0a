import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-auto-resolve-secret').toString('base64');
const LIMIT_MS = 5_000;

// On email erp outranks crm, where lww would keep crm's edit (same ts, crm first in source order); name is unranked,
// so priority falls back to lww there.
const config = parseConfig(
  {
    flows: [
      {
        id: 'people',
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook', timestampField: 'updatedAt' },
          { id: 'erp', type: 'webhook', timestampField: 'updatedAt' },
        ],
        conflict: { strategy: 'manual', autoResolveAfter: '5 seconds', autoResolveWith: 'priority', priority: { email: ['erp', 'crm'] }, eventBusName: 'reviews' },
        targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
        audit: { level: 'all' },
      },
    ],
  },
  'auto-resolve e2e',
);

describe('auto-resolving a parked conflict end to end (autoResolveAfter, configured bus)', () => {
  let rt: Runtime;
  const logs: string[] = [];
  const hook = (source: 'crm' | 'erp') => `${rt.url}/webhooks/people/${source}`;
  const conflicts = async (query = '') => (await getJson(`${rt.url}/flows/people/conflicts${query}`)).json as any[];
  const replica = async (key: string) =>
    (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.people!.targetTables.replica, Key: { id: key }, ConsistentRead: true }))).Item;

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: (l) => logs.push(l) });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  /** Two sources edit `field` of `key` at the same time; answers the conflict once it is listed. */
  const clash = async (key: string, field: string, crm: string, erp: string) => {
    const at = new Date(Date.now() - 60_000).toISOString();
    expect((await postWebhook(hook('crm'), { id: key, [field]: crm, updatedAt: at }, { secret: SECRET })).status).toBe(202);
    expect((await postWebhook(hook('erp'), { id: key, [field]: erp, updatedAt: at }, { secret: SECRET })).status).toBe(202);
    return waitFor(async () => (await conflicts('?status=all')).find((c) => c.key === key && c.field === field), `conflict on ${key}.${field}`);
  };
  const settled = (id: string) => waitFor(async () => (await conflicts('?status=resolved')).find((c) => c.id === id), `auto-resolution of ${id}`, 30_000);

  it('announces a conflict on the configured bus, then settles it after the limit with the priority winner, by syncline:auto-resolve', async () => {
    // Act: the conflict opens and is left to the sweep.
    const opened = await clash('p-1', 'email', 'ada@crm.io', 'ada@erp.io');

    // Assess: announced on the configured bus only.
    expect(opened).toMatchObject({ status: 'open' });
    const events = await waitFor(async () => {
      const l = (await getJson(`${rt.url}/local/events?busName=reviews`)).json as any[];
      return l.some((e) => e.event.detail.conflictId === opened.id) ? l : undefined;
    }, 'ConflictOpened on the reviews bus');
    expect(events.filter((e) => e.event.detail.conflictId === opened.id)).toEqual([
      expect.objectContaining({ busName: 'reviews', event: expect.objectContaining({ source: 'syncline', 'detail-type': 'syncline.ConflictOpened' }) }),
    ]);
    expect((await getJson(`${rt.url}/local/events?busName=default`)).json).toEqual([]);

    // Assess: settled by the sweep, not before the limit, keeping erp's value (priority) where lww would keep crm's.
    const resolved = await settled(opened.id);
    expect(resolved).toMatchObject({ status: 'resolved', resolvedBy: 'syncline:auto-resolve' });
    expect(resolved.resolvedAt - resolved.openedAt).toBeGreaterThanOrEqual(LIMIT_MS);
    expect(resolved.choice).toEqual({ choose: resolved.current.source === 'erp' ? 'current' : 'incoming' });
    const state = await waitFor(async () => {
      const rec = await getJson(`${rt.url}/flows/people/records/p-1`);
      return rec.json?.clocks?.email?.src === 'syncline:review' ? rec.json : undefined;
    }, 'resolution merged');
    expect(state.record.email).toBe('ada@erp.io');
    expect((await replica('p-1'))?.email).toBe('ada@erp.io');
    const lineage = (await getJson(`${rt.url}/flows/people/records/p-1/lineage`)).json as any[];
    const capture = lineage.find((e) => e.eventId === resolved.changeId && e.step === 'capture');
    expect(capture).toMatchObject({ source: 'syncline:review', detail: expect.objectContaining({ by: 'syncline:auto-resolve' }) });
    expect(capture.reason).toContain('by syncline:auto-resolve');
    expect(capture.reason).toContain('autoResolveAfter "5 seconds"');
    expect(capture.reason).toContain('autoResolveWith "priority"');
    expect(await conflicts()).not.toContainEqual(expect.objectContaining({ id: opened.id }));
  });

  it('settles an unranked field with lww within equal rank and delivers the new value to the target', async () => {
    // Act
    const opened = await clash('p-2', 'name', 'Bea (crm)', 'Bea (erp)');
    const resolved = await settled(opened.id);

    // Assess: lww keeps the greater clock, which the manual strategy parked as incoming; the display changes.
    expect(resolved).toMatchObject({ resolvedBy: 'syncline:auto-resolve', choice: { choose: 'incoming' } });
    await waitFor(async () => ((await replica('p-2'))?.name === resolved.incoming.value ? true : undefined), 'replica p-2 auto-resolved');
    const lineage = await waitFor(async () => {
      const l = (await getJson(`${rt.url}/flows/people/records/p-2/lineage`)).json as any[];
      return l.some((e) => e.eventId === resolved.changeId && e.step === 'deliver') ? l : undefined;
    }, 'auto-resolution delivered in lineage');
    const review = lineage.filter((e) => e.eventId === resolved.changeId);
    expect(review.find((e) => e.step === 'capture')?.reason).toContain('by syncline:auto-resolve');
    expect(review.find((e) => e.step === 'resolve')).toMatchObject({ outcome: 'won', source: 'syncline:review' });
    expect(review.find((e) => e.step === 'deliver')).toMatchObject({ outcome: 'delivered', target: 'replica', source: 'syncline:review' });
    expect(logs.filter((l) => / error /.test(l))).toEqual([]);
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-large-conflict-secret').toString('base64');

const config = parseConfig(
  {
    flows: [
      {
        id: 'docs',
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook', timestampField: 'updatedAt' },
          { id: 'erp', type: 'webhook', timestampField: 'updatedAt' },
        ],
        conflict: { strategy: 'manual' },
        targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
        audit: { level: 'all' },
      },
    ],
  },
  'large conflict e2e',
);

/** About 213 KB of text that does not compress: two of them pass the 400 KB one DynamoDB item holds. */
const blob = () => randomBytes(160_000).toString('base64');

describe('a conflict whose values pass what one DynamoDB item holds, end to end', () => {
  let rt: Runtime;
  const hook = (source: 'crm' | 'erp') => `${rt.url}/webhooks/docs/${source}`;
  const replica = async (key: string) =>
    (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.docs!.targetTables.replica, Key: { id: key }, ConsistentRead: true }))).Item;

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => undefined });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('is listed without its values, resolves with the value the record holds, and harms neither its batch-mate nor its key', async () => {
    // Prepare: crm and erp edit `body` of "big" at the same time; erp's request also carries another record.
    const at = new Date(Date.now() - 60_000).toISOString();
    const [crmBody, erpBody] = [blob(), blob()];
    expect((await postWebhook(hook('crm'), { id: 'big', body: crmBody, updatedAt: at }, { secret: SECRET })).status).toBe(202);
    await waitFor(async () => replica('big'), 'crm version delivered');
    expect((await postWebhook(hook('erp'), [{ id: 'big', body: erpBody, updatedAt: at }, { id: 'mate', v: 'from erp', updatedAt: at }], { secret: SECRET })).status).toBe(202);

    // Act
    const listed = await waitFor(async () => ((await getJson(`${rt.url}/flows/docs/conflicts`)).json as any[]).find((c) => c.key === 'big'), 'conflict listed', 30_000);

    // Assess: listed, saying its values were not kept; the batch-mate is delivered.
    expect(listed).toMatchObject({ field: 'body', status: 'open', omitted: expect.stringContaining('values not kept') });
    expect(listed.incoming.value).toBeUndefined();
    expect(await waitFor(async () => replica('mate'), 'batch-mate delivered')).toMatchObject({ v: 'from erp' });
    // The record shows both sides, as its state holds them.
    const record = (await getJson(`${rt.url}/flows/docs/records/big`)).json;
    expect(record.conflicts).toEqual([expect.objectContaining({ id: listed.id, field: 'body' })]);
    expect([record.conflicts[0].current.value, record.conflicts[0].incoming.value].sort()).toEqual([crmBody, erpBody].sort());

    // Act: a reviewer keeps the incoming side.
    const chosen = listed.incoming.source === 'erp' ? erpBody : crmBody;
    const res = await fetch(`${rt.url}/flows/docs/conflicts/${encodeURIComponent(listed.id)}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ choose: 'incoming', by: 'alice' }),
    });

    // Assess: the target gets that value, read from the record.
    expect(res.status).toBe(202);
    await waitFor(async () => ((await replica('big'))?.body === chosen ? true : undefined), 'resolution delivered', 30_000);

    // Act: a later edit of the key.
    expect((await postWebhook(hook('crm'), { id: 'big', note: 'later', updatedAt: new Date().toISOString() }, { secret: SECRET })).status).toBe(202);

    // Assess: delivered; nothing of the flow went to a DLQ.
    await waitFor(async () => ((await replica('big'))?.note === 'later' ? true : undefined), 'later edit delivered', 30_000);
    const status = (await getJson(`${rt.url}/flows/docs/status`)).json as { queues: { id: string; dlq?: { total: number } }[] };
    expect(status.queues.length).toBeGreaterThan(0);
    expect(status.queues.filter((q) => (q.dlq?.total ?? 0) > 0).map((q) => q.id)).toEqual([]);
  });
});

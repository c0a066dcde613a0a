import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { LOCAL_PAYLOAD_BUCKET } from '../../lib/local/resources';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { recordClaimsInto } from '../support/raw-values';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-claim-check-secret-001').toString('base64');
const KB = 1024;

/**
 * The capture -> transform leg carries the whole raw record; the transform drops `attachment`, so what is stored
 * in state (data twice: merge doc and view) and in the replica stays under DynamoDB's 400 KB item limit.
 */
const config = parseConfig({
  flows: [
    {
      id: 'docs',
      key: ['id'],
      sources: [{ id: 'app', type: 'webhook', maxBodyBytes: 1_000_000 }],
      transform: { exclude: ['attachment'] },
      conflict: { strategy: 'lww' },
      targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
    },
  ],
});

describe('a webhook record over 256 KB goes through the claim check', () => {
  let rt: Runtime;
  const claimsPut: string[] = [];

  beforeAll(async () => {
    rt = await startRuntime({
      config,
      port: 0,
      webhookSecret: SECRET,
      visibilityTimeoutSeconds: 1,
      log: () => {},
      instrumentClients: recordClaimsInto(claimsPut),
    });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('accepts a ~300 KB record (202, not quarantined), delivers it to the replica table and deletes its claims once consumed', async () => {
    // Prepare: 300 KB in total, 120 KB of which is kept after the transform.
    const record = { id: 'doc-1', title: 'big one', body: 'b'.repeat(120 * KB), attachment: 'a'.repeat(180 * KB) };
    expect(Buffer.byteLength(JSON.stringify(record))).toBeGreaterThan(256 * KB);

    // Act
    const res = await postWebhook(`${rt.url}/webhooks/docs/app`, record, { secret: SECRET, id: 'msg_big_1' });

    // Assess: accepted, and the envelope travelled as a claim.
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
    expect(claimsPut.length).toBeGreaterThanOrEqual(1);

    const item = await waitFor(async () => {
      const out = await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.docs!.targetTables.replica, Key: { id: 'doc-1' }, ConsistentRead: true }));
      return out.Item;
    }, 'the record in the replica table', 30_000);
    expect(item).toMatchObject({ id: 'doc-1', title: 'big one' });
    expect((item.body as string).length).toBe(120 * KB);
    expect(item).not.toHaveProperty('attachment');
    expect((await getJson(`${rt.url}/flows/docs/quarantine`)).json).toEqual([]);
    const lineage = (await getJson(`${rt.url}/flows/docs/records/doc-1/lineage`)).json as { step: string; outcome: string }[];
    expect(lineage.map((e) => `${e.step}/${e.outcome}`)).toEqual(expect.arrayContaining(['capture/captured', 'resolve/won', 'deliver/delivered']));

    // Assess: no raw payload is left in the bucket once every step consumed its message.
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'the runtime to settle', 30_000);
    const left = await rt.clients.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_PAYLOAD_BUCKET, Prefix: 'claims/' }));
    expect(left.Contents ?? []).toEqual([]);
  });

  it('delivers a large record sent in one array with small ones, and every one of its batch-mates', async () => {
    // Prepare: the large record's envelope goes by claim check; the small ones share SQS messages.
    const big = { id: 'doc-big', title: 'big in a batch', body: 'b'.repeat(100 * KB), attachment: 'a'.repeat(200 * KB) };
    const small = Array.from({ length: 4 }, (_, i) => ({ id: `doc-s${i}`, title: `small ${i}` }));

    // Act
    const res = await postWebhook(`${rt.url}/webhooks/docs/app`, [small[0], small[1], big, small[2], small[3]], { secret: SECRET, id: 'msg_big_batch' });

    // Assess
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ accepted: 5, duplicates: 0, quarantined: 0 });
    const table = rt.resources.flows.docs!.targetTables.replica!;
    for (const id of ['doc-big', ...small.map((r) => r.id)]) {
      const item = await waitFor(async () => (await rt.clients.doc.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }))).Item, `${id} in the replica table`, 30_000);
      expect(item).toMatchObject({ id });
    }
    expect((await getJson(`${rt.url}/flows/docs/quarantine`)).json).toEqual([]);
  });
});

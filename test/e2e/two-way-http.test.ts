import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-two-way-http-secret-01').toString('base64');

/**
 * A CRM that is a source and a target at once, as SaaS systems are: every write it takes is stamped with its own
 * `updated_at`, and it sends a webhook of the record as it now holds it, the write syncline made included
 * (Salesforce outbound messages and HubSpot webhooks fire on API updates too). Kept as a field of the record, the
 * stamp would make each such webhook a new version, sent back and stamped again for ever.
 */
class FakeCrm {
  readonly contacts = new Map<string, Record<string, unknown>>();
  readonly puts = new Map<string, number>();
  readonly echoes: Promise<unknown>[] = [];
  server!: Server;
  webhookUrl = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += String(d)));
      req.on('end', () => {
        const id = decodeURIComponent(req.url!.split('/').pop()!);
        if (req.method !== 'PUT') return void res.writeHead(405).end();
        const contact = { ...(JSON.parse(body) as Record<string, unknown>), updated_at: new Date().toISOString() };
        this.contacts.set(id, contact);
        this.puts.set(id, (this.puts.get(id) ?? 0) + 1);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(contact));
        this.echoes.push(postWebhook(this.webhookUrl, contact, { secret: SECRET }));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A person edits a contact in the CRM: it sends the webhook. */
  edit(contact: Record<string, unknown>) {
    const edited = { ...contact, updated_at: new Date().toISOString() };
    this.contacts.set(String(contact.id), edited);
    return postWebhook(this.webhookUrl, edited, { secret: SECRET });
  }
}

describe('two-way sync with a SaaS system through a webhook source and an http target', () => {
  let rt: Runtime;
  const crm = new FakeCrm();

  beforeAll(async () => {
    const base = await crm.start();
    const config = parseConfig({
      flows: [
        {
          id: 'contacts',
          key: ['id'],
          sources: [
            { id: 'crm', type: 'webhook', timestampField: 'updated_at' },
            { id: 'app', type: 'webhook', timestampField: 'updated_at' },
          ],
          // The stamp orders the changes (read at capture) but is not part of the record.
          transform: { exclude: ['updated_at'] },
          // Per field: the CRM keeps only the name, and its webhooks carry no score.
          conflict: { strategy: 'field-lww' },
          targets: [
            { id: 'crm-out', type: 'http', url: `${base}/contacts/{key}`, body: '{"id": id, "name": name}' },
            { id: 'replica', type: 'dynamodb', keyAttribute: 'id' },
          ],
        },
      ],
    });
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
    crm.webhookUrl = `${rt.url}/webhooks/contacts/crm`;
  });
  afterAll(async () => {
    await rt?.stop();
    await new Promise<void>((r) => crm.server?.close(() => r()));
  });

  /** Idle twice, a second apart, with every webhook the CRM sent answered and none sent since: no round trip is under way. */
  const settled = () =>
    waitFor(
      async () => {
        const sent = crm.echoes.length;
        await Promise.all(crm.echoes);
        if (!(await rt.idle())) return undefined;
        await new Promise((r) => setTimeout(r, 1_000));
        return (await rt.idle()) && crm.echoes.length === sent ? true : undefined;
      },
      'the round trips to end',
      30_000,
    );
  const replica = async (id: string) => (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.contacts!.targetTables.replica!, Key: { id }, ConsistentRead: true }))).Item;

  it('writes a change from elsewhere to the CRM once: the CRM webhook of that write comes back, changes nothing and goes nowhere', async () => {
    // Act: the app changes a contact; syncline writes it to the CRM, which sends its webhook of the write.
    const sent = await postWebhook(`${rt.url}/webhooks/contacts/app`, { id: 'c-1', name: 'Ada', score: 7, updated_at: new Date(Date.now() - 1_000).toISOString() }, { secret: SECRET });
    await waitFor(() => (crm.puts.get('c-1') ? true : undefined), 'the write to the CRM', 20_000);
    await settled();

    // Assess: one write to the CRM; its webhook was captured and left the record as it was.
    expect(sent.status).toBe(202);
    expect(crm.puts.get('c-1')).toBe(1);
    expect(crm.contacts.get('c-1')).toEqual({ id: 'c-1', name: 'Ada', updated_at: expect.any(String) });
    expect(await replica('c-1')).toEqual({ id: 'c-1', name: 'Ada', score: 7, _syncline: expect.anything() });
    const lineage = (await getJson(`${rt.url}/flows/contacts/records/c-1/lineage`)).json as { source?: string; step: string; outcome: string; target?: string; reason?: string }[];
    expect(lineage.filter((e) => e.source === 'crm' && e.step === 'capture').map((e) => e.outcome)).toEqual(['captured']);
    expect(lineage.filter((e) => e.source === 'crm' && e.step === 'deliver').map((e) => [e.target, e.outcome, e.reason])).toEqual([
      ['crm-out', 'skipped', 'the change left the record as it was: nothing to deliver'],
      ['replica', 'skipped', 'the change left the record as it was: nothing to deliver'],
    ]);
  });

  it('takes an edit made in the CRM to the replica, and writes it back to the CRM once, unchanged, with no round trip after', async () => {
    // Act
    const answer = await crm.edit({ id: 'c-2', name: 'Grace' });
    await waitFor(async () => ((await replica('c-2')) ? true : undefined), 'the replica', 20_000);
    await settled();

    // Assess
    expect(answer.status).toBe(202);
    expect(await replica('c-2')).toMatchObject({ id: 'c-2', name: 'Grace' });
    expect(crm.puts.get('c-2')).toBe(1);
    expect(crm.contacts.get('c-2')).toMatchObject({ id: 'c-2', name: 'Grace' });
  });
});

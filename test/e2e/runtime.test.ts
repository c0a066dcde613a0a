import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { flowLeadingKeys } from '../../lib/constructs/flow-grants';
import type { StoreTableId } from '../../functions/plan/store-tables';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';
import { e2eConfig } from './fixture';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-test-secret-0123').toString('base64');
const run = promisify(execFile);

describe('local runtime end to end (HTTP, DynamoDB Local, fauxqs)', () => {
  let rt: Runtime;
  const logs: string[] = [];
  const contacts = () => `${rt.url}/webhooks/crm-contacts`;
  const accounts = (source: 'crm' | 'erp') => `${rt.url}/webhooks/accounts/${source}`;
  const scanAll = async (table: string) => {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await rt.clients.doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  };
  const record = (flow: string, key: string) => getJson(`${rt.url}/flows/${flow}/records/${encodeURIComponent(key)}`);
  const targetItem = async (flow: string, key: string) =>
    (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows[flow]!.targetTables.replica, Key: { id: key }, ConsistentRead: true }))).Item;
  /** Waits until the record's state satisfies `ok`. */
  const recordWhere = (flow: string, key: string, ok: (r: any) => boolean, what: string) =>
    waitFor(async () => {
      const r = await record(flow, key);
      return r.status === 200 && ok(r.json) ? r.json : undefined;
    }, what);
  const targetWhere = (flow: string, key: string, ok: (item: Record<string, unknown> | undefined) => boolean, what: string) =>
    waitFor(async () => {
      const item = await targetItem(flow, key);
      return ok(item) ? { item } : undefined;
    }, what);

  beforeAll(async () => {
    rt = await startRuntime({ config: e2eConfig(), port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: (l) => logs.push(l) });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('delivers a signed webhook: state, masked target item and lineage through every step', async () => {
    // Prepare
    const contact = {
      contact_id: 'c-1',
      first_name: 'Ada',
      last_name: 'Lovelace',
      email_address: 'ada@Analytical.org',
      phone_number: '+44 20 7946 0958',
      national_id: 'QQ123456C',
      internal_notes: 'do not sync',
      updated_at: new Date(Date.now() - 60_000).toISOString(),
    };

    // Act
    const res = await postWebhook(contacts(), contact, { secret: SECRET });

    // Assess
    expect(res).toEqual({ status: 202, json: { accepted: 1, duplicates: 0, quarantined: 0 } });
    const state = await recordWhere('crm-contacts', 'c-1', (r) => r.record?.email === 'ada@Analytical.org', 'record c-1');
    expect(state.version).toBeGreaterThanOrEqual(1);
    expect(state.record).toMatchObject({ id: 'c-1', firstName: 'Ada', fullName: 'Ada Lovelace', emailDomain: 'analytical.org', origin: 'crm' });
    expect(state.record.internal_notes).toBeUndefined();
    expect(state.clocks.email).toBeDefined();
    const { item } = await targetWhere('crm-contacts', 'c-1', (i) => i?.email === 'ada@Analytical.org', 'replica item c-1');
    expect(item).toMatchObject({ id: 'c-1', fullName: 'Ada Lovelace' });
    // PII masked everywhere it lands.
    for (const doc of [state.record, item]) {
      expect(String(doc!.phone)).toMatch(/0958$/);
      expect(JSON.stringify(doc)).not.toContain('7946');
      expect(JSON.stringify(doc)).not.toContain('QQ123456C');
    }
    const lineage = await waitFor(async () => {
      const l = await getJson(`${rt.url}/flows/crm-contacts/records/c-1/lineage`);
      return l.json.some((e: any) => e.step === 'deliver') ? l.json : undefined;
    }, 'delivery in lineage');
    const steps = lineage.map((e: any) => e.step);
    // This flow derives its key in the transform (rename), so its lineage starts at resolve.
    expect(steps.indexOf('resolve')).toBeGreaterThanOrEqual(0);
    expect(steps.indexOf('resolve')).toBeLessThan(steps.indexOf('deliver'));
    expect(lineage.at(-1)).toMatchObject({ step: 'deliver', outcome: 'delivered', target: 'replica' });
    expect(JSON.stringify(lineage)).not.toContain('QQ123456C');
  });

  it('accepts a repeated webhook-id once and reports the repeat as duplicates', async () => {
    const body = [
      { contact_id: 'c-dup-1', email_address: 'one@dup.org', updated_at: new Date().toISOString() },
      { contact_id: 'c-dup-2', email_address: 'two@dup.org', updated_at: new Date().toISOString() },
    ];
    const first = await postWebhook(contacts(), body, { secret: SECRET, id: 'msg_duplicate_1' });
    const second = await postWebhook(contacts(), body, { secret: SECRET, id: 'msg_duplicate_1' });
    expect(first).toEqual({ status: 202, json: { accepted: 2, duplicates: 0, quarantined: 0 } });
    expect(second).toEqual({ status: 202, json: { accepted: 0, duplicates: 2, quarantined: 0 } });
  });

  it('answers 401 to a bad signature or a stale timestamp, 400 to invalid JSON, 404 to an unknown flow and 413 over the limit', async () => {
    const contact = { contact_id: 'c-bad', email_address: 'x@y.org' };
    const otherSecret = 'whsec_' + Buffer.from('another-secret-entirely').toString('base64');
    const badSig = await postWebhook(contacts(), contact, { secret: SECRET, signWith: otherSecret });
    const stale = await postWebhook(contacts(), contact, { secret: SECRET, timestamp: Math.floor(Date.now() / 1000) - 600 });
    const unsigned = await fetch(contacts(), { method: 'POST', body: JSON.stringify(contact) });
    const invalid = await postWebhook(contacts(), '{"contact_id": ', { secret: SECRET });
    const notObject = await postWebhook(contacts(), '"just a string"', { secret: SECRET });
    const unknownFlow = await postWebhook(`${rt.url}/webhooks/nope/crm`, contact, { secret: SECRET });
    const unknownSource = await postWebhook(`${rt.url}/webhooks/accounts/nope`, contact, { secret: SECRET });
    const tooBig = await postWebhook(accounts('crm'), { id: 'big', blob: 'x'.repeat(5000) }, { secret: SECRET });
    // Chunked, without content-length: refused once the limit is passed, not after buffering everything.
    const chunk = new TextEncoder().encode('x'.repeat(1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 64) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const chunked = await fetch(accounts('crm'), { method: 'POST', body: stream, duplex: 'half' } as RequestInit).then(
      (r) => r.status,
      (err: Error) => err.message,
    );

    expect(badSig.status).toBe(401);
    expect(stale.status).toBe(401);
    expect(unsigned.status).toBe(401);
    expect(invalid.status).toBe(400);
    expect(invalid.json.message).toMatch(/JSON/);
    expect(notObject.status).toBe(400);
    expect(unknownFlow.status).toBe(404);
    expect(unknownFlow.json.message).toBe('unknown flow "nope", or it has no webhook source');
    expect(unknownSource.status).toBe(404);
    expect(unknownSource.json.message).toMatch(/^flow "accounts" has no webhook source "nope" \(webhook sources: [a-z, -]+\)$/);
    expect(tooBig.status).toBe(413);
    expect(chunked).toBe(413);
    for (const r of [badSig, stale, invalid, unknownFlow, tooBig]) expect(typeof r.json.message).toBe('string');
    expect((await record('crm-contacts', 'c-bad')).status).toBe(404);
  });

  it('reads percent-encoded flow and source ids in a webhook path as the function does, and refuses invalid encoding with 400', async () => {
    const contact = { contact_id: 'c-encoded', email_address: 'enc@y.org', updated_at: new Date().toISOString() };
    const encoded = await postWebhook(`${rt.url}/webhooks/crm%2Dcontacts/%63rm`, [contact], { secret: SECRET });
    const invalid = await postWebhook(`${rt.url}/webhooks/crm-contacts/%zz`, [contact], { secret: SECRET });
    const slash = await postWebhook(`${rt.url}/webhooks/crm-contacts%2Fcrm`, [contact], { secret: SECRET });
    expect(encoded).toEqual({ status: 202, json: { accepted: 1, duplicates: 0, quarantined: 0 } });
    expect(slash.status).toBe(404);
    expect(invalid.status).toBe(400);
    expect(invalid.json.message).toBe('path segment "%zz" is not valid percent-encoding');
  });

  it('quarantines a schema-invalid record, masked, and shows it in /quarantine', async () => {
    // The flow's JSON Schema wants email in email format.
    const res = await postWebhook(contacts(), { contact_id: 'c-invalid', email_address: 'not-an-email', updated_at: new Date().toISOString(), first_name: 'No', national_id: 'ZZ999999Z', phone_number: '+1 555 010 9999' }, { secret: SECRET });
    expect(res.status).toBe(202);
    const items = await waitFor(async () => {
      const q = await getJson(`${rt.url}/flows/crm-contacts/quarantine`);
      return q.json.some((i: any) => JSON.stringify(i.record).includes('c-invalid')) ? q.json : undefined;
    }, 'quarantined record');
    const item = items.find((i: any) => JSON.stringify(i.record).includes('c-invalid'));
    expect(item.reason).toBeTruthy();
    expect(item.errors.join(' ')).toMatch(/email/);
    expect(JSON.stringify(item)).not.toContain('ZZ999999Z');
    expect(JSON.stringify(item)).not.toContain('010 9999');
    expect((await record('crm-contacts', 'c-invalid')).status).toBe(404);
  });

  it('converges concurrent conflicting updates from two sources (field-lww), in the state and at the target', async () => {
    // Prepare: 12 updates of one key, alternating sources, with distinct timestamps, sent all at once in shuffled order.
    const base = Date.now() - 120_000;
    const updates = Array.from({ length: 12 }, (_, i) => {
      const source = i % 2 === 0 ? 'crm' : 'erp';
      return { source, body: { id: 'a-1', updatedAt: base + i * 1000, name: `name-${i}`, [`${source}Field`]: i } } as const;
    });
    const shuffled = [...updates].sort(() => Math.random() - 0.5);

    // Act
    const answers = await Promise.all(shuffled.map((u) => postWebhook(accounts(u.source), u.body, { secret: SECRET })));

    // Assess: every field holds its newest value whatever the arrival order.
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const expected = { id: 'a-1', updatedAt: base + 11_000, name: 'name-11', erpField: 11, crmField: 10 };
    const state = await recordWhere('accounts', 'a-1', (r) => r.record?.name === 'name-11' && r.record?.crmField === 10, 'converged a-1');
    expect(state.record).toEqual(expected);
    const { item } = await targetWhere('accounts', 'a-1', (i) => i?.name === 'name-11' && i?.crmField === 10, 'converged replica a-1');
    expect(item).toMatchObject(expected);
    // Key untouched by the transform: the lineage starts at capture, from both sources.
    // Updates of one key may resolve in concurrent batches: the state can show the newest before the last batch ends.
    const lineage = await waitFor(async () => {
      const entries = (await getJson(`${rt.url}/flows/accounts/records/a-1/lineage`)).json as any[];
      return entries.filter((e) => e.step === 'capture' && e.outcome === 'captured').length >= 12 ? entries : undefined;
    }, 'lineage of a-1 with its 12 captures');
    const captured = lineage.filter((e) => e.step === 'capture' && e.outcome === 'captured');
    expect(captured).toHaveLength(12);
    expect(new Set(captured.map((e) => e.source))).toEqual(new Set(['crm', 'erp']));
    expect(lineage.filter((e) => e.step === 'resolve')).not.toHaveLength(0);
  });

  it('keeps a computed field that an update carrying none of its inputs cannot compute (field-lww example flow)', async () => {
    // Prepare: the whole contact, then an update of the e-mail alone, as a CRM sends for a changed field.
    const t0 = Date.now() - 40_000;
    await postWebhook(contacts(), { contact_id: 'c-part', first_name: 'Ada', last_name: 'Lovelace', email_address: 'ada@old.org', updated_at: new Date(t0).toISOString() }, { secret: SECRET });
    await targetWhere('crm-contacts', 'c-part', (i) => i?.fullName === 'Ada Lovelace', 'replica c-part');

    // Act
    const res = await postWebhook(contacts(), { contact_id: 'c-part', email_address: 'ada@new.org', updated_at: new Date(t0 + 1000).toISOString() }, { secret: SECRET });

    // Assess: the e-mail and the domain computed from it change; the full name stays, not "" computed from absent names.
    expect(res.status).toBe(202);
    const { item } = await targetWhere('crm-contacts', 'c-part', (i) => i?.email === 'ada@new.org', 'replica c-part updated');
    expect(item).toMatchObject({ fullName: 'Ada Lovelace', firstName: 'Ada', emailDomain: 'new.org' });
  });

  it('removes the replica item on a delete', async () => {
    const t0 = Date.now() - 30_000;
    await postWebhook(accounts('erp'), { id: 'a-del', updatedAt: t0, name: 'to delete' }, { secret: SECRET });
    await targetWhere('accounts', 'a-del', (i) => i?.name === 'to delete', 'replica a-del');

    const res = await postWebhook(accounts('erp'), { op: 'delete', id: 'a-del', updatedAt: t0 + 1000 }, { secret: SECRET });

    expect(res.status).toBe(202);
    await targetWhere('accounts', 'a-del', (i) => i === undefined, 'replica a-del deleted');
    const state = await record('accounts', 'a-del');
    expect(state.status).toBe(404);
    expect(state.json).toMatchObject({ deleted: true });
  });

  it('deletes a contact of the example flow from a CRM delete event, which carries the id and no e-mail', async () => {
    // Prepare
    const t0 = Date.now() - 50_000;
    await postWebhook(contacts(), { contact_id: 'c-del', email_address: 'gone@analytical.org', updated_at: new Date(t0).toISOString() }, { secret: SECRET });
    await targetWhere('crm-contacts', 'c-del', (i) => i?.email === 'gone@analytical.org', 'replica c-del');

    // Act
    const res = await postWebhook(contacts(), { event: 'contact.deleted', contact_id: 'c-del', updated_at: new Date(t0 + 1000).toISOString() }, { secret: SECRET });

    // Assess
    expect(res).toEqual({ status: 202, json: { accepted: 1, duplicates: 0, quarantined: 0 } });
    await targetWhere('crm-contacts', 'c-del', (i) => i === undefined, 'replica c-del deleted');
  });

  it('parks a record the target table refuses in the DLQ, with why in its lineage, while its batch-mates are delivered', async () => {
    // Prepare: the replica table gets an index on `score` (a number), as an existing target table might have;
    // a record whose score is a string can then never be written there.
    const replica = rt.resources.flows.accounts!.targetTables.replica!;
    await rt.clients.dynamodb.send(
      new UpdateTableCommand({
        TableName: replica,
        AttributeDefinitions: [{ AttributeName: 'score', AttributeType: 'N' }],
        GlobalSecondaryIndexUpdates: [
          { Create: { IndexName: 'byScore', KeySchema: [{ AttributeName: 'score', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } } },
        ],
      }),
    );
    const ts = Date.now() - 10_000;
    const batch = [
      { id: 'p-ok-1', updatedAt: ts, score: 5 },
      { id: 'p-poison', updatedAt: ts, score: 'high' },
      { id: 'p-ok-2', updatedAt: ts },
    ];

    // Act
    const res = await postWebhook(accounts('crm'), batch, { secret: SECRET });

    // Assess
    expect(res.json).toEqual({ accepted: 3, duplicates: 0, quarantined: 0 });
    await targetWhere('accounts', 'p-ok-1', (i) => i?.score === 5, 'p-ok-1 delivered');
    await targetWhere('accounts', 'p-ok-2', (i) => i !== undefined, 'p-ok-2 delivered');
    const dlq = rt.resources.flows.accounts!.queues['deliver-replica']!.dlq;
    await waitFor(async () => {
      const a = await rt.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
      return Number(a.Attributes?.ApproximateNumberOfMessages) >= 1 ? true : undefined;
    }, 'poison message in the DLQ', 30_000);
    const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'], VisibilityTimeout: 0 }));
    const bodies = (got.Messages ?? []).map((m) => JSON.parse(m.Body!));
    expect(bodies.map((b) => b.key)).toEqual(['p-poison']);
    expect(await targetItem('accounts', 'p-poison')).toBeUndefined();
    // Retrying cannot make DynamoDB take it: parked at once, and lineage says why without quoting the value.
    const lineage = (await getJson(`${rt.url}/flows/accounts/records/p-poison/lineage`)).json as any[];
    expect(lineage.find((e) => e.step === 'deliver' && e.outcome === 'failed')).toMatchObject({
      target: 'replica',
      reason: 'DynamoDB refused the item: ValidationException (key attribute of the wrong type)',
      detail: { parked: 'dlq' },
    });
    const state = await record('accounts', 'p-poison');
    expect(state.json.record.score).toBe('high');
  });

  it('redrives the poison record once the cause is fixed, and then delivers it', async () => {
    // Prepare: the poison test above parked p-poison in the deliver DLQ; dropping the index fixes its cause.
    const replica = rt.resources.flows.accounts!.targetTables.replica!;
    await rt.clients.dynamodb.send(new UpdateTableCommand({ TableName: replica, GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: 'byScore' } }] }));

    // Act: the real CLI binary against the runtime.
    const { stdout } = await run(process.execPath, ['bin/syncline.mjs', 'redrive', 'accounts', '--step', 'deliver-replica', '--url', rt.url, '--json']);

    // Assess
    expect(JSON.parse(stdout)).toMatchObject({ moved: { 'deliver-replica': 1 }, total: 1 });
    await targetWhere('accounts', 'p-poison', (i) => i?.score === 'high', 'p-poison delivered after the redrive');
  });

  it('serves the admin API: flows, a flow and its resources, local endpoints; 404 JSON for unknown paths', async () => {
    const flows = await getJson(`${rt.url}/flows`);
    expect(flows.json.map((f: any) => f.id)).toEqual(['crm-contacts', 'accounts']);
    const flow = await getJson(`${rt.url}/flows/accounts`);
    expect(flow.json.resources.queues.map((q: any) => q.name)).toEqual(['accounts-transform', 'accounts-resolve', 'accounts-deliver-replica']);
    expect(flow.json.resources.queues[0].dlq.name).toBe('accounts-transform-dlq');
    expect(flow.json.resources.tables).toMatchObject({ state: expect.any(String), audit: expect.any(String), targets: { replica: 'accounts-replica' } });
    expect(flow.json.resources.secrets.webhooks.map((s: any) => s.sourceId)).toEqual(['crm', 'erp']);
    expect(flow.json.resources.buckets).toEqual({ targets: {}, payloads: 'syncline-payloads' });
    expect((await getJson(`${rt.url}/local/endpoints`)).json).toEqual(rt.endpoints);
    expect((await getJson(`${rt.url}/flows/nope`)).status).toBe(404);
    expect((await getJson(`${rt.url}/flows/nope/records/x`)).status).toBe(404);
    expect((await getJson(`${rt.url}/flows/accounts/conflicts`)).json).toEqual([]);
    const unknown = await getJson(`${rt.url}/nothing/here`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.message).toBeTruthy();
    expect((await getJson(`${rt.url}/flows/accounts/records/%E0%A4%A`)).status).toBe(400);
  });

  it('answers the CLI: lineage of a record over the admin API (--url, --json)', async () => {
    const { stdout } = await run(process.execPath, ['bin/syncline.mjs', 'lineage', 'crm-contacts', 'c-1', '--url', rt.url, '--json'], { cwd: process.cwd() });
    const entries = JSON.parse(stdout);
    expect(entries.map((e: any) => e.step)).toContain('deliver');
    const text = await run(process.execPath, ['bin/syncline.mjs', 'lineage', 'crm-contacts', 'c-1', '--url', rt.url]);
    expect(text.stdout).toMatch(/deliver\s+delivered/);
    const unknown = await run(process.execPath, ['bin/syncline.mjs', 'lineage', 'crm-contacts', 'no-such-key', '--url', rt.url, '--json']).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('no audit entries for crm-contacts/no-such-key') });
    expect(JSON.parse(unknown.stdout)).toMatchObject({ exitCode: 1 });
  });

  it('drains: every flow queue empty and nothing in flight', async () => {
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'runtime idle', 20_000);
  });

  it('keeps every item of the shared tables under the partition keys its flow is granted in AWS (dynamodb:LeadingKeys)', async () => {
    // StringLike: `*` any run of characters, `?` one.
    const like = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
    const flows = e2eConfig().flows.map((f) => f.id);
    const counted: Record<string, number> = {};
    for (const [kind, table] of Object.entries(rt.resources.tables) as [StoreTableId, string][]) {
      const { Table } = await rt.clients.dynamodb.send(new DescribeTableCommand({ TableName: table }));
      const pk = Table!.KeySchema!.find((k) => k.KeyType === 'HASH')!.AttributeName!;
      const items = await scanAll(table);
      counted[kind] = items.length;
      for (const item of items) {
        const value = String(item[pk]);
        const owners = flows.filter((f) => flowLeadingKeys(kind, f).some((p) => like(p).test(value)));
        expect(owners, `${kind} item ${value}`).toHaveLength(1);
      }
    }
    // The run wrote to each table the flows use on their way (so the check saw real keys).
    expect(counted.state).toBeGreaterThan(0);
    expect(counted.audit).toBeGreaterThan(0);
    expect(counted.dedup).toBeGreaterThan(0);
  });
});

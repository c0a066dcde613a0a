import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-e2e-conflicts-secret-01').toString('base64');
const BIN = join(process.cwd(), 'bin/syncline.mjs');
const exec = promisify(execFile);

/** Runs the real CLI binary; answers its exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd: process.cwd() });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

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
        conflict: { strategy: 'manual' },
        targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
        audit: { level: 'all' },
      },
    ],
  },
  'conflicts e2e',
);

describe('manual conflict review end to end (open, event, list, resolve with the CLI, delivered, lineage)', () => {
  let rt: Runtime;
  const logs: string[] = [];
  const hook = (source: 'crm' | 'erp') => `${rt.url}/webhooks/people/${source}`;
  const conflicts = async (query = '') => (await getJson(`${rt.url}/flows/people/conflicts${query}`)).json as any[];
  const replica = async (key: string) =>
    (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.people!.targetTables.replica, Key: { id: key }, ConsistentRead: true }))).Item;
  /** Two sources edit the same field of `key` at the same time: the manual strategy parks it; answers the conflict. */
  const clash = async (key: string, crm: string, erp: string) => {
    const at = new Date(Date.now() - 5_000).toISOString();
    expect((await postWebhook(hook('crm'), { id: key, email: crm, name: 'Ada', updatedAt: at }, { secret: SECRET })).status).toBe(202);
    expect((await postWebhook(hook('erp'), { id: key, email: erp, updatedAt: at }, { secret: SECRET })).status).toBe(202);
    return waitFor(async () => (await conflicts()).find((c) => c.key === key), `conflict on ${key}`);
  };
  const resolve = (key: string, id: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${rt.url}/flows/people/conflicts/${encodeURIComponent(id)}/resolve`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: (l) => logs.push(l) });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('parks concurrent edits, announces the conflict, resolves it with the CLI, delivers the choice and audits it', async () => {
    // Prepare
    const conflict = await clash('p-1', 'ada@crm.io', 'ada@erp.io');
    expect(conflict).toMatchObject({ flow: 'people', key: 'p-1', field: 'email', status: 'open' });
    expect([conflict.current.source, conflict.incoming.source].sort()).toEqual(['crm', 'erp']);
    const events = await waitFor(async () => {
      const l = (await getJson(`${rt.url}/local/events?busName=default`)).json as any[];
      return l.some((e) => e.event.detail.conflictId === conflict.id) ? l : undefined;
    }, 'ConflictOpened event');
    const opened = events.filter((e) => e.event['detail-type'] === 'syncline.ConflictOpened' && e.event.detail.conflictId === conflict.id);
    expect(opened).toHaveLength(1);
    expect(opened[0].event).toMatchObject({ source: 'syncline', detail: { flow: 'people', key: 'p-1', field: 'email' } });
    expect(opened[0].event.detail.current.clock.ts).toEqual(expect.any(Number));
    // The field that is not in conflict is merged and delivered meanwhile.
    await waitFor(async () => ((await replica('p-1'))?.name === 'Ada' ? true : undefined), 'replica p-1 merged');

    // Act
    const chosen = conflict.incoming.value as string;
    const r = await cli(['conflicts', 'resolve', 'people', conflict.id, '--choose', 'incoming', '--by', 'alice', '--url', rt.url, '--json']);

    // Assess
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.conflict).toMatchObject({ id: conflict.id, status: 'resolved', resolvedBy: 'alice', choice: { choose: 'incoming' } });
    const state = await waitFor(async () => {
      const rec = await getJson(`${rt.url}/flows/people/records/p-1`);
      return rec.json?.clocks?.email?.src === 'syncline:review' ? rec.json : undefined;
    }, 'resolved state');
    expect(state.record).toMatchObject({ id: 'p-1', email: chosen, name: 'Ada' });
    await waitFor(async () => ((await replica('p-1'))?.email === chosen ? true : undefined), 'replica p-1 resolved');
    const lineage = await waitFor(async () => {
      const l = (await getJson(`${rt.url}/flows/people/records/p-1/lineage`)).json as any[];
      return l.some((e) => e.eventId === out.changeId && e.step === 'deliver') ? l : undefined;
    }, 'review change delivered in lineage');
    const review = lineage.filter((e) => e.eventId === out.changeId);
    expect(review.every((e) => e.source === 'syncline:review' || e.step === 'deliver')).toBe(true);
    expect(review.find((e) => e.step === 'resolve')).toMatchObject({ outcome: 'won', source: 'syncline:review' });
    expect(review.find((e) => e.step === 'capture')?.reason).toContain('by alice');
    expect(await conflicts()).not.toContainEqual(expect.objectContaining({ id: conflict.id }));
    // No new conflict was announced by the resolution.
    expect((await getJson(`${rt.url}/local/events`)).json.filter((e: any) => e.event.detail.key === 'p-1')).toHaveLength(1);

    // Resolving again is refused, through the API and the CLI.
    const again = await resolve('p-1', conflict.id, { choose: 'current' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toContain('already resolved by alice');
    const cliAgain = await cli(['conflicts', 'resolve', 'people', conflict.id, '--choose', 'current', '--url', rt.url]);
    expect(cliAgain.code).toBe(1);
    expect(cliAgain.stderr).toContain('HTTP 409');
    const resolved = await conflicts('?status=resolved');
    expect(resolved).toContainEqual(expect.objectContaining({ id: conflict.id, status: 'resolved', resolvedBy: 'alice' }));
    const listed = await cli(['conflicts', 'list', 'people', '--status', 'resolved', '--url', rt.url]);
    expect(listed.stdout).toContain(`${conflict.id}  key=p-1  field=email  resolved`);
  });

  it('lets exactly one of two concurrent resolutions win, and applies a given value', async () => {
    // Prepare
    const conflict = await clash('p-2', 'bob@crm.io', 'bob@erp.io');

    // Act
    const [a, b] = await Promise.all([
      resolve('p-2', conflict.id, { value: 'bob@review.io' }, { 'x-syncline-user': 'carol' }),
      resolve('p-2', conflict.id, { value: 'bob@other.io' }, { 'x-syncline-user': 'dave' }),
    ]);

    // Assess
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const winner = (a.status === 202 ? await a.json() : await b.json()) as any;
    const value = winner.conflict.choice.value as string;
    expect(winner.conflict.resolvedBy).toBe(a.status === 202 ? 'carol' : 'dave');
    await waitFor(async () => ((await replica('p-2'))?.email === value ? true : undefined), 'replica p-2 resolved');
  });

  it('answers 400 for a bad body and 404 for an unknown flow or conflict', async () => {
    // Act
    const bad = await resolve('x', 'nope', { choose: 'both' });
    const both = await resolve('x', 'nope', { choose: 'current', value: 1 });
    const unknown = await resolve('x', 'nope', { choose: 'current' });
    const noFlow = await fetch(`${rt.url}/flows/ghost/conflicts/c/resolve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"choose":"current"}' });
    const cliUsage = await cli(['conflicts', 'resolve', 'people', 'c', '--choose', 'current', '--value', '1']);

    // Assess
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('choose');
    expect(both.status).toBe(400);
    expect(unknown.status).toBe(404);
    expect(noFlow.status).toBe(404);
    expect((await getJson(`${rt.url}/flows/people/conflicts?status=maybe`)).status).toBe(400);
    expect(cliUsage.code).toBe(2);
  });

  it('lists a conflict too large for one item without its values, resolves it with the values the record holds, and harms neither batch-mate nor key', async () => {
    // Prepare: crm and erp edit `notes` of "big" at the same time with ~213 KB each that do not compress (two pass the
    // 400 KB one DynamoDB item holds); erp's request also carries another record.
    const blob = () => randomBytes(160_000).toString('base64');
    const at = new Date(Date.now() - 5_000).toISOString();
    const [crmNotes, erpNotes] = [blob(), blob()];
    expect((await postWebhook(hook('crm'), { id: 'big', notes: crmNotes, updatedAt: at }, { secret: SECRET })).status).toBe(202);
    await waitFor(async () => replica('big'), 'crm version delivered');
    expect((await postWebhook(hook('erp'), [{ id: 'big', notes: erpNotes, updatedAt: at }, { id: 'mate', v: 'from erp', updatedAt: at }], { secret: SECRET })).status).toBe(202);

    // Act
    const listed = await waitFor(async () => (await conflicts()).find((c) => c.key === 'big'), 'conflict listed', 30_000);

    // Assess: listed, saying its values were not kept; the record shows both; the batch-mate is delivered.
    expect(listed).toMatchObject({ field: 'notes', status: 'open', omitted: expect.stringContaining('values not kept') });
    expect(listed.incoming.value).toBeUndefined();
    const record = (await getJson(`${rt.url}/flows/people/records/big`)).json;
    expect(record.conflicts).toEqual([expect.objectContaining({ id: listed.id, field: 'notes' })]);
    expect([record.conflicts[0].current.value, record.conflicts[0].incoming.value].sort()).toEqual([crmNotes, erpNotes].sort());
    expect(await waitFor(async () => replica('mate'), 'batch-mate delivered')).toMatchObject({ v: 'from erp' });

    // Act: a reviewer keeps the incoming side.
    const chosen = listed.incoming.source === 'erp' ? erpNotes : crmNotes;
    const res = await resolve('big', listed.id, { choose: 'incoming', by: 'alice' });

    // Assess: the target gets that value, read from the record.
    expect(res.status).toBe(202);
    await waitFor(async () => ((await replica('big'))?.notes === chosen ? true : undefined), 'resolution delivered', 30_000);

    // Act: a later edit of the key.
    expect((await postWebhook(hook('crm'), { id: 'big', note: 'later', updatedAt: new Date().toISOString() }, { secret: SECRET })).status).toBe(202);

    // Assess: delivered; nothing of the flow went to a DLQ.
    await waitFor(async () => ((await replica('big'))?.note === 'later' ? true : undefined), 'later edit delivered', 30_000);
    const status = (await getJson(`${rt.url}/flows/people/status`)).json as { queues: { id: string; dlq?: { total: number } }[] };
    expect(status.queues.length).toBeGreaterThan(0);
    expect(status.queues.filter((q) => (q.dlq?.total ?? 0) > 0).map((q) => q.id)).toEqual([]);
  });
});

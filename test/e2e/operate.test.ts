import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const exec = promisify(execFile);
const BIN = join(process.cwd(), 'bin/syncline.mjs');
const SECRET = 'whsec_' + Buffer.from('syncline-operate-secret-0000001').toString('base64');

/** The same flow twice: first with a schema that wants a `currency`, then with that requirement dropped (the fix). */
const configWith = (required: string[]) =>
  parseConfig({
    flows: [
      {
        id: 'orders',
        key: ['id'],
        sources: [{ id: 'app', type: 'webhook', timestampField: 'ts' }],
        transform: { schema: { type: 'object', required, properties: { amount: { type: 'number' } } } },
        conflict: { strategy: 'lww' },
        targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
      },
    ],
  });

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { env: { ...process.env, SYNCLINE_URL: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const settled = (rt: Runtime, what: string) => waitFor(async () => ((await rt.idle()) ? true : undefined), what, 30_000);

describe('operate: quarantine, fix the config, replay, status (real binary)', () => {
  const persist = mkdtempSync(join(tmpdir(), 'syncline-operate-'));
  let rt: Runtime | undefined;

  afterAll(async () => {
    await rt?.stop();
    rmSync(persist, { recursive: true, force: true });
  });

  it('replays a quarantined record through the fixed transform to the replica, and status shows it', async () => {
    // Prepare: runtime 1 with the strict schema quarantines a record without `currency`.
    rt = await startRuntime({ config: configWith(['id', 'amount', 'currency']), port: 0, persist, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
    const sent = await postWebhook(`${rt.url}/webhooks/orders/app`, [{ id: 'o-1', amount: 12, ts: Date.now() - 1_000 }], { secret: SECRET, id: 'msg_operate_1' });
    expect(sent.status).toBe(202);
    await waitFor(async () => ((await getJson(`${rt!.url}/flows/orders/quarantine`)).json as unknown[]).length === 1 || undefined, 'record quarantined', 30_000);
    await settled(rt, 'runtime 1 settled');
    await rt.stop();
    rt = undefined;

    // Act: runtime 2 on the same data with the schema fixed, then the real CLI replays everything.
    rt = await startRuntime({ config: configWith(['id', 'amount']), port: 0, persist, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
    const url = rt.url;
    const before = await cli(['quarantine', 'list', 'orders', '--url', url, '--json']);
    expect(before.code).toBe(0);
    const quarantined = JSON.parse(before.stdout) as { id: string; reason: string }[];
    expect(quarantined).toHaveLength(1);

    const usage = await cli(['quarantine', 'replay', 'orders', '--url', url]);
    expect(usage.code).toBe(2);
    const bad = await fetch(`${url}/flows/orders/quarantine/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ids": []}' });
    expect(bad.status).toBe(400);

    const replay = await cli(['quarantine', 'replay', 'orders', '--all', '--url', url, '--json']);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ flow: 'orders', replayed: 1, failed: 0, ids: { replayed: [quarantined[0]!.id] } });

    // Assess: delivered to the replica, nothing left in quarantine, the replay noted in the flow's records.
    const doc = DynamoDBDocumentClient.from(rt.clients.dynamodb);
    const item = await waitFor(
      async () => (await doc.send(new GetCommand({ TableName: rt!.resources.flows.orders!.targetTables.replica!, Key: { id: 'o-1' } }))).Item,
      'replayed record in the replica',
      30_000,
    );
    expect(item).toMatchObject({ id: 'o-1', amount: 12 });
    await settled(rt, 'runtime 2 settled');
    const after = await cli(['quarantine', 'list', 'orders', '--url', url, '--json']);
    expect(JSON.parse(after.stdout)).toEqual([]);
    // Replaying it again: the id is no longer quarantined, so nothing could be sent.
    const again = await cli(['quarantine', 'replay', 'orders', '--id', quarantined[0]!.id, '--url', url, '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ replayed: 0, notFound: [quarantined[0]!.id] });

    const status = await cli(['status', 'orders', '--url', url, '--json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as { flow: string; queues: { id: string; depth: { total: number }; dlq?: { total: number } }[]; outcomes: Record<string, number>; lag?: { samples: number } };
    expect(s.flow).toBe('orders');
    expect(s.queues.map((q) => q.id)).toEqual(expect.arrayContaining(['transform', 'resolve', 'deliver-replica']));
    for (const q of s.queues) expect(q.dlq?.total ?? 0).toBe(0);
    expect(s.outcomes.quarantined).toBe(1);
    expect(s.outcomes.won).toBeGreaterThan(0);
    expect(s.outcomes.delivered).toBeGreaterThan(0);
    expect(s.lag?.samples).toBeGreaterThan(0);

    const table = await cli(['status', '--url', url]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/flow orders/);
    expect(table.stdout).toMatch(/deliver-replica\s+0\s+0\s+0/);
    expect(table.stdout).toMatch(/delivered=\d+/);
    // Two runtimes and six CLI processes: about a minute on a loaded 2-core machine.
  }, 150_000);
});

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const exec = promisify(execFile);
const BIN = join(process.cwd(), 'bin/syncline.mjs');
const SECRET = 'whsec_' + Buffer.from('replay-try-e2e-secret-0123456789').toString('base64');

/** Runs the real CLI binary (stdin optional); answers its exit code and output. */
function cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

const config = parseConfig(
  {
    flows: [
      {
        id: 'people',
        key: ['id'],
        pii: ['email', 'ssn'],
        sources: [{ id: 'crm', type: 'webhook', timestampField: 'updatedAt', deleteWhen: { $headers: { 'x-crm-event': ['deleted'] } } }],
        transform: {
          mask: { ssn: 'last4' },
          filter: { status: ['active'] },
          schema: { type: 'object', required: ['name', 'age'], properties: { name: { type: 'string' }, age: { type: 'integer' } } },
        },
        conflict: { strategy: 'field-lww' },
        targets: [
          { id: 'replica', type: 'dynamodb', tableName: 'replay-people-replica', allowPii: ['email'] },
          { id: 'mirror', type: 'dynamodb', tableName: 'replay-people-mirror', allowPii: ['email'] },
        ],
      },
      {
        id: 'leads',
        key: ['id'],
        pii: ['email'],
        sources: [{ id: 'form', type: 'webhook' }],
        transform: { detectPii: 'flag' },
        targets: [{ id: 'crm', type: 'dynamodb', tableName: 'replay-leads', allowPii: ['email'] }],
      },
    ],
  },
  'replay and try e2e',
);

describe('replay and try with the real binary against the local runtime', () => {
  let rt: Runtime;
  let dir: string;
  let start: number;
  const hook = () => `${rt.url}/webhooks/people/crm`;
  const item = async (table: string, id: string) => (await rt.clients.doc.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }))).Item;
  const lineage = async (key: string, flow = 'people') => (await getJson(`${rt.url}/flows/${flow}/records/${encodeURIComponent(key)}/lineage`)).json as any[];
  const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'syncline-replay-try-'));
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
    start = Date.now();
    const records = ['p-1', 'p-2', 'p-3'].map((id, i) => ({ id, name: `N${i}`, age: 30 + i, status: 'active', email: `${id}@example.com`, ssn: '078-05-1120', updatedAt: at(-60_000) }));
    expect((await postWebhook(hook(), records, { secret: SECRET })).status).toBe(202);
    for (const id of ['p-1', 'p-2', 'p-3']) {
      for (const table of ['replay-people-replica', 'replay-people-mirror']) await waitFor(() => item(table, id), `${id} in ${table}`);
    }
  });
  afterAll(() => rt?.stop());

  it('replay --key delivers the current state again to the chosen target although its marker has that version, and records who asked', async () => {
    // Prepare: the replica lost the item; its delivered marker still says it has this version.
    await rt.clients.doc.send(new DeleteCommand({ TableName: 'replay-people-replica', Key: { id: 'p-1' } }));
    await rt.clients.doc.send(new DeleteCommand({ TableName: 'replay-people-mirror', Key: { id: 'p-1' } }));

    // Act
    const r = await cli(['replay', 'people', '--key', 'p-1', '--target', 'replica', '--by', 'ana', '--url', rt.url]);

    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 key(s) of people replayed to replica (selected by key), asked by ana');
    const back = await waitFor(() => item('replay-people-replica', 'p-1'), 'p-1 replayed to the replica');
    expect(back).toMatchObject({ id: 'p-1', name: 'N0', email: 'p-1@example.com', ssn: '*******1120' });
    const entries = await waitFor(async () => {
      const l = await lineage('p-1');
      return l.some((e) => e.outcome === 'delivered' && e.detail?.replayedBy === 'ana') ? l : undefined;
    }, 'replayed delivery in the lineage');
    expect(entries.filter((e) => e.outcome === 'replayed')).toEqual([expect.objectContaining({ step: 'deliver', reason: 'replay to replica asked by ana', detail: { by: 'ana', targets: ['replica'] } })]);
    expect(entries.filter((e) => e.detail?.replayedBy).map((e) => e.target)).toEqual(['replica']);
    expect(await item('replay-people-mirror', 'p-1')).toBeUndefined();
  });

  it('replay --since selects keys by their last change from the audit index; --dry-run lists them and sends nothing', async () => {
    // Act
    const dry = await cli(['replay', 'people', '--since', new Date(start - 1000).toISOString(), '--dry-run', '--url', rt.url, '--json']);
    const none = await cli(['replay', 'people', '--since', at(60_000), '--until', at(120_000), '--dry-run', '--url', rt.url, '--json']);

    // Assess
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ flow: 'people', dryRun: true, keys: ['p-1', 'p-2', 'p-3'], targets: ['replica', 'mirror'], selection: 'audit-time-index', notFound: [] });
    expect(JSON.parse(none.stdout)).toMatchObject({ keys: [] });
    expect((await lineage('p-2')).some((e) => e.outcome === 'replayed')).toBe(false);
  });

  it('replay --since sends every selected key to every target', async () => {
    // Prepare
    await rt.clients.doc.send(new DeleteCommand({ TableName: 'replay-people-mirror', Key: { id: 'p-2' } }));

    // Act
    const r = await cli(['replay', 'people', '--since', new Date(start - 1000).toISOString(), '--url', rt.url]);

    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 key(s) of people replayed to replica, mirror');
    await waitFor(() => item('replay-people-mirror', 'p-2'), 'p-2 back in the mirror');
    expect((await lineage('p-3')).filter((e) => e.outcome === 'replayed')).toHaveLength(1);
  });

  it('replay: a key without state exits 1 naming it; usage errors exit 2', async () => {
    const missing = await cli(['replay', 'people', '--key', 'nobody', '--url', rt.url]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('no state for: nobody');
    const both = await cli(['replay', 'people', '--key', 'p-1', '--since', at(0), '--url', rt.url]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --key or --since, not both');
    const future = await cli(['replay', 'people', '--since', '2099-01-01T00:00:00Z', '--url', rt.url]);
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('--since is in the future');
    expect((await cli(['replay', 'people', '--since', 'yesterday', '--url', rt.url])).code).toBe(2);
    expect((await cli(['replay', '--key', 'p-1', '--url', rt.url])).code).toBe(2);
    const target = await cli(['replay', 'people', '--key', 'p-1', '--target', 'nope', '--url', rt.url]);
    expect(target.code).toBe(1);
    expect(target.stderr).toContain('flow "people" has no target "nope"');
    // Refused before anything was sent: running it again would change nothing, so it does not say to.
    expect(target.stderr).not.toContain('run it again');
  });

  it('replay draws a progress bar on a terminal, and none with --json', async () => {
    const inTerminal = (args: string[]) => exec('script', ['-qec', [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null']);
    const shown = await inTerminal(['replay', 'people', '--key', 'p-3', '--dry-run', '--url', rt.url]);
    expect(shown.stdout).toContain('replay people');
    const json = await inTerminal(['replay', 'people', '--key', 'p-3', '--dry-run', '--url', rt.url, '--json']);
    expect(json.stdout).not.toContain('replay people');
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ keys: ['p-3'] });
  });

  it('try: a passing record shows the masked result and the fields resolve would change, and writes nothing', async () => {
    // Prepare
    const before = await getJson(`${rt.url}/flows/people/records/p-2`);
    const entries = (await lineage('p-2')).length;
    const file = join(dir, 'p-2.json');
    writeFileSync(file, JSON.stringify({ id: 'p-2', name: 'Renamed', age: 31, status: 'active', email: 'p-2@example.com', ssn: '078-05-1120', updatedAt: at(0) }));

    // Act
    const r = await cli(['try', 'people', '--record', file, '--url', rt.url, '--json']);
    const text = await cli(['try', 'people', '--record', file, '--url', rt.url]);

    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: 'passed',
      key: 'p-2',
      record: { ssn: '*******1120', name: 'Renamed' },
      resolve: { outcome: 'changed', currentVersion: before.json.version, version: before.json.version + 1, changedFields: ['name', 'updatedAt'] },
      written: false,
    });
    expect(text.stdout).toContain('people/p-2 from source crm: PASSED (upsert)');
    expect(text.stdout).toContain(`resolve: CHANGED (v${before.json.version} -> v${before.json.version + 1}); fields: name, updatedAt`);
    expect((await getJson(`${rt.url}/flows/people/records/p-2`)).json).toEqual(before.json);
    expect(await lineage('p-2')).toHaveLength(entries);
  });

  it('try (record on stdin): a new key, an older change resolve would supersede, a filtered one and a quarantined one with every reason', async () => {
    const ok = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ id, name: 'X', age: 1, status: 'active', updatedAt: at(-60_000), ...extra });
    const fresh = await cli(['try', 'people', '--record', '-', '--url', rt.url, '--json'], ok('p-new'));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(JSON.parse(fresh.stdout).resolve).toMatchObject({ outcome: 'new', currentVersion: 0, version: 1 });
    expect((await getJson(`${rt.url}/flows/people/records/p-new`)).status).toBe(404);

    const older = await cli(['try', 'people', '--record', '-', '--url', rt.url, '--json'], ok('p-3', { name: 'Old', updatedAt: at(-3_600_000) }));
    expect(JSON.parse(older.stdout).resolve).toMatchObject({ outcome: 'superseded', changedFields: [] });

    const filtered = await cli(['try', 'people', '--record', '-', '--url', rt.url], ok('p-9', { status: 'archived' }));
    expect(filtered.code).toBe(1);
    expect(filtered.stdout).toContain('FILTERED (upsert): did not match transform.filter {"status":["active"]}');

    const bad = await cli(['try', 'people', '--record', '-', '--url', rt.url, '--json'], JSON.stringify({ id: 'p-9', status: 'active', age: 'old', ssn: '078-05-1120' }));
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ outcome: 'quarantined', reason: 'timestampField "updatedAt" is missing' });
    const invalid = await cli(['try', 'people', '--record', '-', '--url', rt.url], ok('p-9', { name: 7, age: 'old' }));
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain('QUARANTINED (upsert): schema validation failed');
    expect(invalid.stdout).toContain('  - /name must be string');
    expect(invalid.stdout).toContain('  - /age must be integer');

    const deleted = await cli(['try', 'people', '--record', '-', '--header', 'X-Crm-Event: deleted', '--url', rt.url, '--json'], JSON.stringify({ id: 'p-3', status: 'active' }));
    expect(JSON.parse(deleted.stdout)).toMatchObject({ outcome: 'passed', op: 'delete' });
    expect((await cli(['try', 'people', '--record', '-', '--header', 'deleted', '--url', rt.url], ok('p-3'))).code).toBe(2);

    // A number a double cannot hold reaches the runtime with its digits: quarantined as a webhook would be, not rounded.
    const big = await cli(['try', 'people', '--record', '-', '--url', rt.url, '--json'], ok('p-9').replace('"age":1', '"age":12345678901234567890'));
    expect(big.code).toBe(1);
    expect(JSON.parse(big.stdout)).toMatchObject({ outcome: 'quarantined', reason: expect.stringMatching(/number at \$\.age is an integer beyond 2\^53/) });
  });

  it('status lists fields that detectPii flagged in real records and the flow does not declare', async () => {
    // Prepare: email is declared (and allowed at the target); the phone number is not.
    const lead = { id: 'l-1', email: 'lee@example.com', phone: '+44 20 7946 0958', note: 'call back' };
    expect((await postWebhook(`${rt.url}/webhooks/leads/form`, lead, { secret: SECRET })).status).toBe(202);
    await waitFor(() => item('replay-leads', 'l-1'), 'the lead delivered');

    // Act
    const text = await cli(['status', 'leads', '--url', rt.url]);
    const json = await cli(['status', 'leads', '--url', rt.url, '--json']);

    // Assess
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("PII to declare (detectPii flagged these in the last hour's records; the flow's pii does not name them): phone (1 record)");
    expect(JSON.parse(json.stdout).undeclaredPii).toEqual([{ field: 'phone', records: 1 }]);
    expect((await lineage('l-1', 'leads')).find((e) => e.step === 'resolve')).toMatchObject({ outcome: 'won', detail: { piiFlagged: ['email', 'phone'] } });
  });

  it('try: usage errors exit 2', async () => {
    expect((await cli(['try', 'people', '--url', rt.url])).code).toBe(2);
    expect((await cli(['try', 'people', '--record', '-', '--url', rt.url], 'not json')).code).toBe(2);
    expect((await cli(['try', 'people', '--record', '-', '--url', rt.url], '[1]')).code).toBe(2);
    const source = await cli(['try', 'people', '--source', 'nope', '--record', '-', '--url', rt.url], '{"id":"x"}');
    expect(source.code).toBe(1);
    expect(source.stderr).toContain('flow "people" has no source "nope"');
  });
});

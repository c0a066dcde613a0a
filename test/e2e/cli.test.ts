import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { freePort } from '../../lib/local/servers';

const exec = promisify(execFile);
const BIN = join(process.cwd(), 'bin/syncline.mjs');

/** Runs the real CLI binary; answers its exit code and output. */
async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { env, cwd: process.cwd() });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('syncline CLI (the real binary)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'syncline-cli-'));
  });

  it('ends quietly when its output is piped into a reader that has closed (`| head`)', async () => {
    // Prepare: stdout is a pipe whose reading end is already closed.
    const child = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));

    // Act
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    // Assess
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('validate: a bad file exits 1 naming the flow and the JSON path, without a stack trace', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        flows: [
          {
            id: 'orders',
            key: ['id'],
            sources: [{ id: 'shop', type: 'webhook' }],
            conflict: { strategy: 'coin-toss' },
            targets: [{ id: 'replica', type: 'dynamodb' }],
          },
        ],
      }),
    );
    const r = await cli(['validate', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`invalid config (${bad}):`);
    expect(r.stderr).toContain('flow "orders"');
    expect(r.stderr).toContain('$.flows[0].conflict.strategy');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('validate: a problem the deep checks find names the file too', async () => {
    // Prepare: schema-valid, but a JSONata expression that does not parse.
    const deep = join(dir, 'deep.json');
    writeFileSync(deep, JSON.stringify({ flows: [{ id: 'orders', key: ['id'], sources: [{ id: 'shop', type: 'webhook' }], transform: { compute: { total: 'price *' } }, targets: [{ id: 'replica', type: 'dynamodb' }] }] }));

    // Act
    const r = await cli(['validate', '--config', deep]);

    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`invalid config (${deep}):`);
    expect(r.stderr).toContain('compute');
  });

  it('validate: takes -c syncline:config=<file> as cdk does, and names a stray argument as given', async () => {
    // Prepare: the deep-check failure above, given the way the "no config" message says.
    const deep = join(dir, 'deep.json');
    writeFileSync(deep, JSON.stringify({ flows: [{ id: 'orders', key: ['id'], sources: [{ id: 'shop', type: 'webhook' }], transform: { compute: { total: 'price *' } }, targets: [{ id: 'replica', type: 'dynamodb' }] }] }));

    // Act
    const given = await cli(['validate', '-c', `syncline:config=${deep}`]);
    const stray = await cli(['validate', '-x', '--json']);

    // Assess
    expect(given.code).toBe(1);
    expect(given.stderr.split('\n')[0]).toBe(`invalid config (${deep}):`);
    expect(stray.code).toBe(2);
    expect(JSON.parse(stray.stdout).error).toBe("Unexpected argument '-x'. This command does not take positional arguments");
  });

  it('refuses a date the calendar lacks (Feb 30) as a usage error before replaying anything, and an unknown command in JSON too', async () => {
    // Act: nothing listens at this URL, so a replay that went ahead would fail (exit 1), not exit 2.
    const replay = await cli(['replay', 'people', '--since', '2026-02-30T00:00:00Z', '--url', 'http://127.0.0.1:9']);
    const unknown = await cli(['bogus', '--json']);
    const inherited = await cli(['constructor', '--json']);
    const emptyConfig = await cli(['validate', '-c', 'syncline:config=']);
    const twoConfigs = await cli(['validate', '-c', 'syncline:config=cdk.json', '-c', 'syncline:config=/nonexistent.json']);

    // Assess
    expect(replay.code).toBe(2);
    expect(replay.stderr).toContain('--since must be an ISO-8601 time');
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toEqual({ error: 'unknown command "bogus"', exitCode: 2 });
    expect(JSON.parse(inherited.stdout)).toEqual({ error: 'unknown command "constructor"', exitCode: 2 });
    expect(emptyConfig.code).toBe(2);
    expect(emptyConfig.stderr).toContain('-c syncline:config= needs a file');
    expect(twoConfigs.code).toBe(2);
  });

  it('validate: the example flows in cdk.json are ok', async () => {
    const r = await cli(['validate']);
    expect(r).toMatchObject({ code: 0, stdout: 'ok\n' });
  });

  it('sign: prints Standard Webhooks headers that verify, and a curl command line with --curl', async () => {
    const secret = 'whsec_' + Buffer.from('cli-test-secret-0123456789').toString('base64');
    const data = '{"id":"1","name":"it\'s"}';
    const r = await cli(['sign', '--secret', secret, '--id', 'msg_1', '--data', data]);
    expect(r.code).toBe(0);
    const headers = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(': ') as [string, string]));
    expect(Object.keys(headers)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    expect(new Webhook(secret).verify(data, headers)).toEqual({ id: '1', name: "it's" });
    const c = await cli(['sign', '--secret', secret, '--data', data, '--curl', 'http://127.0.0.1:3000/webhooks/crm-contacts']);
    expect(c.stdout).toMatch(/^curl -sS -X POST http:\/\/127\.0\.0\.1:3000\/webhooks\/crm-contacts -H .*webhook-signature: v1,/);
    expect(c.stdout).toContain(`--data-raw '{"id":"1","name":"it'\\''s"}'`);
    expect((await cli(['sign', '--data', data], { ...process.env, SYNCLINE_WEBHOOK_SECRET: '' })).code).toBe(2);
  });

  it('admin commands: usage errors exit 2, an unreachable runtime exits 1 with a clear message', async () => {
    expect((await cli(['lineage', 'only-a-flow'])).code).toBe(2);
    expect((await cli(['conflicts', 'frobnicate', 'x'])).code).toBe(2);
    const badUrl = await cli(['lineage', 'crm-contacts', 'c-1', '--url', '127.0.0.1:3000']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('--url must be an http:// URL');
    const badEnv = await cli(['lineage', 'crm-contacts', 'c-1'], { ...process.env, SYNCLINE_URL: '127.0.0.1:3000' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('SYNCLINE_URL must be an http:// URL');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await cli(['quarantine', 'list', 'crm-contacts', '--url', closed]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach syncline at ${closed}`);
    // With --json, failures are machine-readable on stdout too.
    const downJson = await cli(['quarantine', 'list', 'crm-contacts', '--url', closed, '--json']);
    expect(downJson.code).toBe(1);
    expect(JSON.parse(downJson.stdout)).toEqual({ error: expect.stringContaining(`cannot reach syncline at ${closed}`), exitCode: 1 });
    const usageJson = await cli(['lineage', 'only-a-flow', '--json']);
    expect(usageJson.code).toBe(2);
    expect(JSON.parse(usageJson.stdout)).toMatchObject({ exitCode: 2 });
    // A URL would resolve "." or ".." to another path (a key the transform quarantines): said, not sent.
    for (const key of ['.', '..']) {
      const dots = await cli(['lineage', 'crm-contacts', key, '--url', closed]);
      expect(dots.code).toBe(1);
      expect(dots.stderr).toContain(`no record has the key "${key}"`);
    }
  });

  describe('dev', () => {
    let blocker: Server;
    let busyPort: number;
    beforeAll(async () => {
      blocker = createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
      busyPort = (blocker.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => blocker.close(() => r())));

    it('refuses a port in use with a clear one-line error', async () => {
      const r = await cli(['dev', '--port', String(busyPort)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${busyPort} is in use; pass --port or PORT`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('explains how to install Java when there is none', async () => {
      const r = await cli(['dev', '--port', '0'], { ...process.env, PATH: '/nonexistent' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Java 17/);
      expect(r.stderr).toMatch(/apt-get install -y openjdk-17-jre-headless/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('prints one ready line with its URL, serves the API, and stops cleanly on SIGTERM', async () => {
      const child = spawn(process.execPath, [BIN, 'dev'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += String(d)));
      child.stderr.on('data', (d) => (stderr += String(d)));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const deadline = Date.now() + 45_000;
        // The banner's last line: the pipe may deliver the ready line before the rest.
        while (!stdout.includes('Press Ctrl-C to stop.') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
        const ready = stdout.split('\n').filter((l) => /ready/.test(l));
        expect(ready, stderr).toHaveLength(1);
        const url = /http:\/\/127\.0\.0\.1:\d+/.exec(ready[0]!)![0];
        expect(stdout).toContain(`POST ${url}/webhooks/crm-contacts/crm`);
        expect(stdout).toMatch(/webhook secret \(sources without a secretName\): whsec_[A-Za-z0-9+/=]+/);
        const flows = await fetch(`${url}/flows`);
        expect(flows.status).toBe(200);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      expect(stderr).toContain('stopped');
    });
  });

  describe('long operations on the local runtime', () => {
    let rt: Runtime;
    const config = parseConfig(
      {
        flows: [
          {
            id: 'stock',
            key: ['sku'],
            sources: [{ id: 'table', type: 'dynamodb-stream', tableName: 'cli-stock' }],
            conflict: { strategy: 'lww' },
            targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'sku' }],
          },
          {
            id: 'files',
            key: ['id'],
            sources: [{ id: 'feed', type: 'schedule', every: '1 day', s3: { bucket: 'cli-feed', prefix: 'in/', format: 'jsonl' } }],
            targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
          },
        ],
      },
      'cli long operations',
    );
    beforeAll(async () => {
      rt = await startRuntime({ config, port: 0, visibilityTimeoutSeconds: 1, log: () => {} });
      for (let i = 0; i < 7; i++) await rt.clients.doc.send(new PutCommand({ TableName: 'cli-stock', Item: { sku: `s-${i}`, qty: i } }));
    });
    afterAll(() => rt?.stop());

    it('backfill: every segment to its end, in small requests, summed into one summary', async () => {
      const r = await cli(['backfill', 'stock', '--segments', '3', '--max-items', '2', '--url', rt.url, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual([{ flow: 'stock', source: 'table', table: 'cli-stock', segments: 3, scanned: 7, sent: 7, filtered: 0, quarantined: 0, failed: 0 }]);
      expect((await cli(['backfill', 'stock', '--segments', '0', '--url', rt.url])).code).toBe(2);
    });

    it('pull: runs a schedule source now and prints its summary; a source of another type is a usage error (exit 2)', async () => {
      await rt.clients.s3.send(new PutObjectCommand({ Bucket: 'cli-feed', Key: 'in/a.jsonl', Body: '{"id":"f1","n":1}\n{"id":"f2","n":2}\n' }));
      const r = await cli(['pull', 'files', 'feed', '--url', rt.url]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^files\/feed: \d+ pages?, 2 records, 2 changed, 0 quarantined, 0 deletes inferred/);
      expect(r.stdout).toContain('complete');
      const again = await cli(['pull', 'files', 'feed', '--restart', '--url', rt.url, '--json']);
      expect(JSON.parse(again.stdout)).toMatchObject({ flow: 'files', source: 'feed', records: 2, changed: 0, complete: true });
      const wrong = await cli(['pull', 'stock', 'table', '--url', rt.url]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain('only schedule sources can be pulled');
      expect((await cli(['pull', 'files', '--url', rt.url])).code).toBe(2);
    });

    it('draws a progress bar on a terminal (stderr), and none with --json', async () => {
      // `script` gives the CLI a pseudo-terminal, as a person running it has.
      const inTerminal = (args: string[]) => exec('script', ['-qec', [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { env: process.env });
      const shown = await inTerminal(['backfill', 'stock', '--url', rt.url]);
      expect(shown.stdout).toContain('backfill stock table');
      expect(shown.stdout).toContain('stock/table: scanned 7 items of cli-stock');
      const json = await inTerminal(['backfill', 'stock', '--url', rt.url, '--json']);
      expect(json.stdout).not.toContain('backfill stock');
      expect(JSON.parse(json.stdout.trim())).toEqual([expect.objectContaining({ scanned: 7 })]);
    });
  });
});

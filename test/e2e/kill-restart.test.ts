import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { eventId } from '../../functions/core/envelope';
import { createLocalClients, type LocalEndpoints } from '../../lib/local/clients';
import { LOCAL_PAYLOAD_BUCKET } from '../../lib/local/resources';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const BIN = resolve('bin/syncline.mjs');
const SECRET = 'whsec_' + Buffer.from('syncline-kill-restart-secret-01').toString('base64');

/** Valid records go to the replica; `test: true` is filtered; a string amount is quarantined by the schema. */
const FLOWS = {
  flows: [
    {
      id: 'ledger',
      key: ['id'],
      sources: [{ id: 'app', type: 'webhook', timestampField: 'ts' }],
      transform: {
        filter: { test: [{ exists: false }] },
        schema: { type: 'object', required: ['id', 'amount'], properties: { amount: { type: 'number' } } },
      },
      conflict: { strategy: 'lww' },
      targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
    },
  ],
};

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
}

/** Starts `syncline dev --persist <dir>` as its own process and waits for its ready line. */
async function startDev(configFile: string, dir: string): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'dev', '--config', configFile, '--persist', dir, '--port', '0'], {
    env: { ...process.env, SYNCLINE_WEBHOOK_SECRET: SECRET, PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  // The banner's last line: the whole banner is out.
  await waitFor(() => (output.includes('Press Ctrl-C to stop.') ? true : child.exitCode !== null ? Promise.reject(new Error(output)) : undefined), 'the banner', 90_000, 100);
  const url = /ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!;
  return { child, url, output: () => output };
}

/** Processes whose command line names the folder or that hold a file open in it (Linux /proc). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) {
        pids.push(Number(entry));
        continue;
      }
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`).startsWith(dir)) {
          pids.push(Number(entry));
          break;
        }
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** The local addresses listening on a TCP port, from /proc/net/tcp and tcp6 (`127.0.0.1`, `::ffff:127.0.0.1`, `0.0.0.0`, `::`...). */
function listenAddresses(port: number): string[] {
  const out: string[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local?.endsWith(`:${hexPort}`)) continue;
      const hex = local.split(':')[0]!;
      const v4 = (h: string) => [6, 4, 2, 0].map((i) => parseInt(h.slice(i, i + 2), 16)).join('.');
      if (hex.length === 8) out.push(v4(hex));
      else if (hex.startsWith('0000000000000000FFFF0000')) out.push(`::ffff:${v4(hex.slice(24))}`);
      else if (/^0+$/.test(hex)) out.push('::');
      else out.push(hex === '00000000000000000000000001000000' ? '::1' : hex);
    }
  }
  return out;
}

type Fate = 'delivered' | 'filtered' | 'quarantined';
type Request = { readonly webhookId: string; readonly records: Record<string, unknown>[] };

/** `n` requests of 5 records each (3 valid, 1 filtered, 1 invalid); with `large`, every fourth also carries a record over 256 KB, which travels by claim check. */
function requestsOf(name: string, n: number, large = false): Request[] {
  return Array.from({ length: n }, (_, r) => ({
    webhookId: `msg_${name}_${r}`,
    records: Array.from({ length: large && r % 4 === 0 ? 6 : 5 }, (_, j) => {
      const id = `${name}-${r}-${j}`;
      if (j === 3) return { id, amount: j, test: true, ts: Date.now() };
      if (j === 4) return { id, amount: 'lots', ts: Date.now() };
      if (j === 5) return { id, amount: r, notes: 'n'.repeat(300 * 1024), ts: Date.now() };
      return { id, amount: r * 10 + j, ts: Date.now() };
    }),
  }));
}

const VALID = (r: Request) => r.records.filter((x) => typeof x.amount === 'number' && !x.test).length;

/** Waits until every record of `accepted` is in exactly one place, then counts the places, DLQ messages and claim checks left. */
async function accountFor(runtime: Started, accepted: readonly Request[]) {
  const endpoints = (await getJson(`${runtime.url}/local/endpoints`)).json as LocalEndpoints;
  const clients = createLocalClients(endpoints);
  try {
    const flow = (await getJson(`${runtime.url}/flows/ledger`)).json as { resources: { tables: { targets: Record<string, string> }; queues: Record<string, { dlq: { url: string } }> } };
    const replica = flow.resources.tables.targets.replica!;
    const fateOf = async (webhookId: string, index: number, record: Record<string, unknown>, quarantined: Set<string>): Promise<Fate | undefined> => {
      const id = eventId('ledger', 'app', webhookId, index);
      if (quarantined.has(id)) return 'quarantined';
      const lineage = (await getJson(`${runtime.url}/flows/ledger/records/${encodeURIComponent(String(record.id))}/lineage`)).json as { eventId: string; outcome: string }[];
      if (lineage.some((e) => e.eventId === id && e.outcome === 'filtered')) return 'filtered';
      const item = (await clients.doc.send(new GetCommand({ TableName: replica, Key: { id: record.id }, ConsistentRead: true, ProjectionExpression: 'amount' }))).Item;
      if (item && item.amount === record.amount) return 'delivered';
      return undefined;
    };
    const fates = await waitFor(
      async () => {
        const quarantined = new Set(((await getJson(`${runtime.url}/flows/ledger/quarantine`)).json as { id: string }[]).map((q) => q.id));
        const out = new Map<string, Fate>();
        for (const req of accepted) {
          for (const [index, record] of req.records.entries()) {
            const fate = await fateOf(req.webhookId, index, record, quarantined);
            if (!fate) return undefined;
            out.set(String(record.id), fate);
          }
        }
        return out;
      },
      'every accepted record to reach its place after the restart',
      120_000,
      1_000,
    );
    let dlq = 0;
    for (const q of Object.values(flow.resources.queues)) {
      const a = (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes;
      dlq += Number(a?.ApproximateNumberOfMessages ?? 0);
    }
    // Claim checks are deleted once consumed.
    const claims = await waitFor(
      async () => {
        const left = (await clients.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_PAYLOAD_BUCKET, Prefix: 'claims/' }))).KeyCount ?? 0;
        return left === 0 ? 0 : undefined;
      },
      'no claim check left',
      20_000,
    ).catch(() => -1);
    const count = (f: Fate) => [...fates.values()].filter((x) => x === f).length;
    return { records: fates.size, delivered: count('delivered'), filtered: count('filtered'), quarantined: count('quarantined'), dlq, claims };
  } finally {
    clients.destroy();
  }
}

/** What `accepted` must come to: each record in its one place, no DLQ message and no claim check left. */
const expectedFor = (accepted: readonly Request[]) => ({
  records: accepted.reduce((n, r) => n + r.records.length, 0),
  delivered: accepted.reduce((n, r) => n + VALID(r), 0),
  filtered: accepted.length,
  quarantined: accepted.length,
  dlq: 0,
  claims: 0,
});

describe.runIf(process.platform === 'linux')('kill -9 of the runtime with --persist loses no accepted record', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-kill-'));
  const configFile = join(dir, 'flows.json');
  writeFileSync(configFile, JSON.stringify(FLOWS));
  const children: ChildProcess[] = [];
  const start = async (dataDir: string) => {
    const started = await startDev(configFile, dataDir);
    children.push(started.child);
    return started;
  };
  const killed = async (runtime: Started, dataDir: string) => {
    runtime.child.kill('SIGKILL');
    await waitFor(() => (processesUsing(dataDir).length === 0 ? true : undefined), 'no process left using the data folder', 10_000);
  };

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await waitFor(() => (processesUsing(dir).length === 0 ? true : undefined), 'the local servers to stop', 20_000).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('accounts for every record answered 202 after a SIGKILL mid-burst and a restart on the same folder, leaves no JVM behind, and listens on 127.0.0.1 only', async () => {
    // Prepare: the runtime as its own process, and 40 requests.
    const dataDir = join(dir, 'burst');
    const first = await start(dataDir);
    expect(first.output()).toContain('webhook secret (sources without a secretName): from SYNCLINE_WEBHOOK_SECRET (not printed)');
    expect(first.output()).not.toContain(SECRET.slice('whsec_'.length));
    const requests = requestsOf('burst', 40);

    // Act: send with four senders; SIGKILL the runtime once 12 requests were answered, while others are in flight.
    const accepted: Request[] = [];
    let answered = 0;
    let killing: Promise<void> | undefined;
    const queue = [...requests];
    const sender = async () => {
      for (let req = queue.shift(); req; req = queue.shift()) {
        try {
          const answer = await postWebhook(`${first.url}/webhooks/ledger/app`, req.records, { secret: SECRET, id: req.webhookId });
          if (answer.status === 202) accepted.push(req);
        } catch {
          // connection reset by the kill: not accepted
        }
        if (++answered === 12 && !killing) killing = killed(first, dataDir);
      }
    };
    await Promise.all([sender(), sender(), sender(), sender()]);

    // Assess: the JVM and every other process let go of the folder within a few seconds.
    await killing;
    expect(accepted.length).toBeGreaterThanOrEqual(12);
    expect(accepted.length).toBeLessThan(requests.length);

    // Act: restart on the same folder.
    const second = await start(dataDir);
    const endpoints = (await getJson(`${second.url}/local/endpoints`)).json as LocalEndpoints;

    // Assess: the HTTP API, DynamoDB Local and fauxqs listen on the loopback address only.
    for (const url of [second.url, endpoints.dynamodb, endpoints.sqs]) {
      const addresses = listenAddresses(Number(new URL(url).port));
      expect(addresses.length, url).toBeGreaterThan(0);
      expect(addresses.every((a) => a === '127.0.0.1' || a === '::ffff:127.0.0.1'), `${url} listens on ${addresses.join(', ')}`).toBe(true);
    }
    // Assess: every record of every accepted request ends in exactly one place.
    expect(await accountFor(second, accepted)).toEqual(expectedFor(accepted));

    // Assess: a plain stop also ends the JVM.
    second.child.kill('SIGTERM');
    await waitFor(() => (processesUsing(dataDir).length === 0 ? true : undefined), 'no process left after SIGTERM', 20_000);
  }, 300_000);

  it('accounts for every accepted record, claim-checked ones too, after a SIGKILL while the steps drain the queues and another just after the restart', async () => {
    // Prepare: every request answered 202 before the first kill; every fourth carries a record over 256 KB.
    const dataDir = join(dir, 'drain');
    const first = await start(dataDir);
    const requests = requestsOf('drain', 24, true);
    const accepted: Request[] = [];
    for (const req of requests) if ((await postWebhook(`${first.url}/webhooks/ledger/app`, req.records, { secret: SECRET, id: req.webhookId })).status === 202) accepted.push(req);
    expect(accepted).toHaveLength(requests.length);

    // Act: SIGKILL once the first record reached the replica, while the steps still hold the others.
    const endpoints = (await getJson(`${first.url}/local/endpoints`)).json as LocalEndpoints;
    const clients = createLocalClients(endpoints);
    const replica = ((await getJson(`${first.url}/flows/ledger`)).json as { resources: { tables: { targets: Record<string, string> } } }).resources.tables.targets.replica!;
    const deliveredAtKill = await waitFor(
      async () => {
        const n = (await clients.doc.send(new ScanCommand({ TableName: replica, Select: 'COUNT' }))).Count ?? 0;
        return n > 0 ? n : undefined;
      },
      'a first delivery',
      60_000,
      20,
    );
    await killed(first, dataDir);
    clients.destroy();
    // Act: restart, and SIGKILL again as soon as it is up (the journal was just replayed into the queues).
    await killed(await start(dataDir), dataDir);
    const third = await start(dataDir);

    // Assess: the first kill came mid-way, and every record still ends in exactly one place, with no claim left.
    expect(deliveredAtKill).toBeLessThan(expectedFor(accepted).delivered);
    expect(await accountFor(third, accepted)).toEqual(expectedFor(accepted));
    await killed(third, dataDir);
  }, 300_000);
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-nothing-lost-targets-1').toString('base64');
const POISON = 'r-7';
/** A record the API answers 503 for, every time: transient as far as syncline can tell. */
const FLAKY = 'r-13';

describe('nothing is lost with several targets, one of which fails', () => {
  let rt: Runtime;
  let server: Server;
  const received = new Map<string, number>();

  beforeAll(async () => {
    // A CRM-like API that refuses one record for good.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const key = decodeURIComponent(req.url!.split('/').pop()!);
        received.set(key, (received.get(key) ?? 0) + 1);
        if (key === POISON) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"amount must be positive"}');
        if (key === FLAKY) return void res.writeHead(503).end();
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const config = parseConfig({
      flows: [
        {
          id: 'ledger',
          key: ['id'],
          sources: [{ id: 'app', type: 'webhook', timestampField: 'ts' }],
          targets: [
            { id: 'replica', type: 'dynamodb', keyAttribute: 'id' },
            { id: 'crm', type: 'http', url: `http://127.0.0.1:${port}/records/{key}`, timeoutMs: 2000 },
          ],
        },
      ],
    });
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
  });
  afterAll(async () => {
    await rt?.stop();
    await new Promise<void>((r) => server?.close(() => r()));
  });

  it('counts add up per target: a refused record is parked at once, one that keeps failing reaches the DLQ after bounded retries, and neither blocks the other target', async () => {
    // Prepare
    const t0 = Date.now() - 60_000;
    const records = Array.from({ length: 20 }, (_, i) => ({ id: `r-${i}`, amount: i, ts: t0 }));

    // Act
    const started = Date.now();
    const answer = await postWebhook(`${rt.url}/webhooks/ledger/app`, records, { secret: SECRET, id: 'msg_targets_1' });
    expect(answer.status).toBe(202);
    const fr = rt.resources.flows.ledger!;
    const dlq = fr.queues['deliver-crm']!.dlq.url;
    const parked: string[] = [];
    const receives = new Map<string, number>();
    await waitFor(async () => {
      const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }));
      for (const m of got.Messages ?? []) {
        const key = JSON.parse(m.Body!).key as string;
        parked.push(key);
        receives.set(key, Number(m.Attributes?.ApproximateReceiveCount));
        await rt.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlq, ReceiptHandle: m.ReceiptHandle! }));
      }
      return parked.length >= 2 && (await rt.idle()) ? true : undefined;
    }, 'the refused record parked, the failing one in the DLQ, and the flow idle', 60_000);
    const settledMs = Date.now() - started;

    // Assess: the DynamoDB target got every record, the refused one included.
    const items = (await rt.clients.doc.send(new ScanCommand({ TableName: fr.targetTables.replica }))).Items ?? [];
    expect(items.map((i) => i.id).sort()).toEqual(records.map((r) => r.id).sort());
    // The HTTP target: every other record delivered once; the refused one tried once and parked; the failing one tried
    // 3 times per receive, 5 receives (maxReceiveCount), then moved to the DLQ by SQS.
    expect(parked.sort()).toEqual([FLAKY, POISON]);
    expect(receives.get(FLAKY)).toBeGreaterThanOrEqual(5);
    expect([...received.keys()].sort()).toEqual(records.map((r) => r.id).sort());
    expect([...received].filter(([k, n]) => k !== FLAKY && n !== 1)).toEqual([]);
    // 3 tries per receive, 5 receives; a record first sent in a pack of several gets one receive more, as the message of
    // its own that it is split into when its pack fails.
    expect(received.get(FLAKY)).toBeGreaterThanOrEqual(5);
    expect(received.get(FLAKY)).toBeLessThanOrEqual(18);
    // Per target, the audit trail accounts for every record exactly once.
    const perTarget = { replica: { delivered: 0, failed: 0 }, crm: { delivered: 0, failed: 0 } };
    for (const r of records) {
      const lineage = (await getJson(`${rt.url}/flows/ledger/records/${r.id}/lineage`)).json as { outcome: string; target?: string; detail?: { body?: string } }[];
      for (const e of lineage) {
        if (e.target !== 'replica' && e.target !== 'crm') continue;
        if (e.outcome === 'delivered' || e.outcome === 'failed') perTarget[e.target][e.outcome]++;
        if (e.outcome === 'failed' && r.id === POISON) expect(e.detail?.body).toBe('{"error":"amount must be positive"}');
        if (e.outcome === 'failed' && r.id === FLAKY) expect((e as { reason?: string }).reason).toMatch(/^gave up after 5 attempts, the message goes to the DLQ: delivery of r-13 to "crm" failed/);
      }
    }
    expect(perTarget).toEqual({ replica: { delivered: 20, failed: 0 }, crm: { delivered: 18, failed: 2 } });
    const record = (await getJson(`${rt.url}/flows/ledger/records/${POISON}`)).json as { delivered: Record<string, unknown> };
    expect(Object.keys(record.delivered)).toEqual(['replica']);
    console.log(`20 records to 2 targets (one refused, one failing until the DLQ) settled in ${settledMs} ms`);
  });
});

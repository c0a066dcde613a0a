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

  it('counts add up per target, and the failing target neither blocks nor re-delivers to the other', async () => {
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
    await waitFor(async () => {
      const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      for (const m of got.Messages ?? []) {
        parked.push(JSON.parse(m.Body!).key as string);
        await rt.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlq, ReceiptHandle: m.ReceiptHandle! }));
      }
      return parked.length >= 1 && (await rt.idle()) ? true : undefined;
    }, 'the refused record parked and the flow idle', 40_000);
    const settledMs = Date.now() - started;

    // Assess: the DynamoDB target got every record, the refused one included.
    const items = (await rt.clients.doc.send(new ScanCommand({ TableName: fr.targetTables.replica }))).Items ?? [];
    expect(items.map((i) => i.id).sort()).toEqual(records.map((r) => r.id).sort());
    // The HTTP target: every record but one delivered once; the refused one tried once and parked.
    expect(parked).toEqual([POISON]);
    expect([...received.keys()].sort()).toEqual(records.map((r) => r.id).sort());
    expect([...received.values()].every((n) => n === 1)).toBe(true);
    // Per target, the audit trail accounts for every record exactly once.
    const perTarget = { replica: { delivered: 0, failed: 0 }, crm: { delivered: 0, failed: 0 } };
    for (const r of records) {
      const lineage = (await getJson(`${rt.url}/flows/ledger/records/${r.id}/lineage`)).json as { outcome: string; target?: string; detail?: { body?: string } }[];
      for (const e of lineage) {
        if (e.target !== 'replica' && e.target !== 'crm') continue;
        if (e.outcome === 'delivered' || e.outcome === 'failed') perTarget[e.target][e.outcome]++;
        if (e.outcome === 'failed') expect(e.detail?.body).toBe('{"error":"amount must be positive"}');
      }
    }
    expect(perTarget).toEqual({ replica: { delivered: 20, failed: 0 }, crm: { delivered: 19, failed: 1 } });
    const record = (await getJson(`${rt.url}/flows/ledger/records/${POISON}`)).json as { delivered: Record<string, unknown> };
    expect(Object.keys(record.delivered)).toEqual(['replica']);
    console.log(`20 records to 2 targets (one refusing a record) settled in ${settledMs} ms`);
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-http-throttle-e2e-1').toString('base64');
/** Longer than the 10 s a batch waits out itself, and than five receives of the local queues' 2 s visibility. */
const RETRY_AFTER_S = 12;

describe('an API that asks for a pause (429 with Retry-After)', () => {
  let rt: Runtime;
  let server: Server;
  const requests: { key: string; at: number; status: number }[] = [];

  beforeAll(async () => {
    // Refuses a ticket's requests until RETRY_AFTER_S after its first refusal, as a rate limit does (RFC 9110
    // §10.2.3: Retry-After is how long the client ought to wait before a follow-up request).
    const pausedUntil = new Map<string, number>();
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const key = decodeURIComponent(req.url!.split('/').pop()!);
        const now = Date.now();
        if (!pausedUntil.has(key)) pausedUntil.set(key, now + RETRY_AFTER_S * 1000);
        const status = now < pausedUntil.get(key)! ? 429 : 200;
        requests.push({ key, at: now, status });
        if (status === 429) return void res.writeHead(429, { 'retry-after': String(RETRY_AFTER_S) }).end('{"message":"rate limited"}');
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const config = parseConfig({
      flows: [{ id: 'tickets', key: ['id'], sources: [{ id: 'app', type: 'webhook' }], targets: [{ id: 'helpdesk', type: 'http', url: `http://127.0.0.1:${port}/tickets/{key}`, method: 'PUT' }] }],
    });
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, log: () => {} });
  });
  afterAll(async () => {
    await rt?.stop();
    await new Promise<void>((r) => server?.close(() => r()));
  });

  it('holds the records back until the pause ends, then delivers each once, none to the DLQ', async () => {
    // Act: t-0 alone (its delivery message is held by its visibility), then three in one pack (sent back delayed).
    const tickets = ['t-0', 't-1', 't-2', 't-3'];
    expect((await postWebhook(`${rt.url}/webhooks/tickets/app`, [{ id: 't-0', status: 2 }], { secret: SECRET })).status).toBe(202);
    await waitFor(() => (requests.length > 0 ? true : undefined), 't-0 refused');
    expect((await postWebhook(`${rt.url}/webhooks/tickets/app`, tickets.slice(1).map((id) => ({ id, status: 2 })), { secret: SECRET })).status).toBe(202);
    await waitFor(async () => (requests.filter((r) => r.status === 200).length === 4 && (await rt.idle()) ? true : undefined), 'four tickets delivered', 45_000);

    // Assess: each ticket met the 429 once, was sent nothing more inside its pause, and then once.
    for (const key of tickets) {
      const mine = requests.filter((r) => r.key === key);
      expect(mine.map((r) => r.status)).toEqual([429, 200]);
      expect(mine[1]!.at - mine[0]!.at).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);
    }
    for (const key of tickets) {
      const record = (await getJson(`${rt.url}/flows/tickets/records/${key}`)).json as { delivered: Record<string, unknown> };
      expect(Object.keys(record.delivered)).toEqual(['helpdesk']);
    }
    const dlq = rt.resources.flows.tickets!.queues['deliver-helpdesk']!.dlq.url;
    const depth = await rt.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['ApproximateNumberOfMessages'] }));
    expect(depth.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });
});

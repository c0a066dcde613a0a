import { request as httpRequest } from 'node:http';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { event, FUZZ_SECRET, fuzzFlowInput, fuzzRequest } from '../support/webhook-fuzz';

/** Sends the request as given: raw path (no URL normalisation), raw body bytes. */
function send(port: number, path: string, headers: Record<string, string>, body: Buffer): Promise<number | 'unsendable'> {
  return new Promise((resolve) => {
    let req;
    try {
      req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
    } catch {
      // Header values or paths node refuses to put on the wire never reach a server.
      resolve('unsendable');
      return;
    }
    req.on('error', () => resolve('unsendable'));
    req.end(body);
  });
}

describe('the local runtime under fuzzed webhook requests', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await startRuntime({ config: parseConfig({ flows: [fuzzFlowInput] }), port: 0, webhookSecret: FUZZ_SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('answers no 5xx, and whatever it accepted ends without a message in any DLQ', async () => {
    // Prepare
    const port = Number(new URL(rt.url).port);
    const requests = fc.sample(fuzzRequest, { numRuns: 300, seed: 7 });

    // Act
    const byStatus: Record<string, number> = {};
    for (const r of requests) {
      const e = event(r);
      const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body, e.isBase64Encoded ? 'base64' : 'utf8');
      const status = await send(port, r.path, e.headers as Record<string, string>, body);
      byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
    }
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'pipeline settled', 120_000, 500);

    // Assess
    expect(Object.keys(byStatus).filter((s) => /^5/.test(s)), JSON.stringify(byStatus)).toEqual([]);
    expect(byStatus['202'] ?? 0).toBeGreaterThan(0);
    const inDlqs: Record<string, number> = {};
    for (const [name, q] of Object.entries(rt.resources.flows.fuzz!.queues)) {
      const attrs = await rt.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
      inDlqs[name] = Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0);
    }
    expect(inDlqs).toEqual(Object.fromEntries(Object.keys(inDlqs).map((k) => [k, 0])));
  }, 240_000);
});

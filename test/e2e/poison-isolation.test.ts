import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-poison-isolation-secret').toString('base64');

/** The key is renamed by the transform, so only the transform step can see (and refuse) the long key. */
const config = parseConfig({
  flows: [
    {
      id: 'people',
      key: ['id'],
      sources: [{ id: 'app', type: 'webhook' }],
      transform: {},
      conflict: { strategy: 'lww' },
      targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
    },
    {
      id: 'renamed',
      key: ['id'],
      sources: [{ id: 'app', type: 'webhook' }],
      transform: { rename: { ref: 'id' } },
      conflict: { strategy: 'lww' },
      targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
    },
  ],
});

describe('one poison record never fails its batch-mates, end to end', () => {
  let rt: Runtime;

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  async function dlqDepths(flow: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [name, q] of Object.entries(rt.resources.flows[flow]!.queues)) {
      const attrs = await rt.clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: q.dlq.url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      out[name] = Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    }
    return out;
  }

  for (const [flow, keyField] of [
    ['people', 'id'],
    ['renamed', 'ref'],
  ] as const) {
    it(`${flow}: 60 valid records are delivered exactly once, and keys too long to store are quarantined with their reason`, async () => {
      // Prepare: 60 valid records (one with the longest key the flow carries), and in one webhook one key no DynamoDB
      // key can hold and one a byte longer than the flow carries (`<flow>#<key>` is an index sort key: 1024 bytes).
      const longest = 1024 - flow.length - 1;
      const valid = [...Array.from({ length: 59 }, (_, i) => ({ [keyField]: `k-${i}`, n: i })), { [keyField]: 'y'.repeat(longest), n: 59 }];
      const records = [...valid.slice(0, 30), { [keyField]: 'x'.repeat(2101), n: -1 }, { [keyField]: 'z'.repeat(longest + 1), n: -2 }, ...valid.slice(30)];

      // Act
      const answer = await postWebhook(`${rt.url}/webhooks/${flow}`, records, { secret: SECRET });
      await waitFor(async () => ((await rt.idle()) ? true : undefined), 'pipeline settled', 60_000);

      // Assess: the sender got a 202 for all 61 records.
      expect(answer.status).toBe(202);
      expect(answer.json.accepted + answer.json.quarantined).toBe(62);

      // Every valid record is in the replica, and its lineage has exactly one delivery.
      const replica = rt.resources.flows[flow]!.targetTables.replica!;
      const items = (await rt.clients.doc.send(new ScanCommand({ TableName: replica, ConsistentRead: true }))).Items ?? [];
      expect(items.map((i) => i.id).sort()).toEqual(valid.map((v) => v[keyField]).sort());
      for (const v of valid) {
        const lineage = (await getJson(`${rt.url}/flows/${flow}/records/${v[keyField]}/lineage`)).json as { outcome: string; step: string }[];
        expect(lineage.filter((e) => e.step === 'deliver' && e.outcome === 'delivered'), `deliveries of ${v[keyField]}`).toHaveLength(1);
      }

      // The poison records are quarantined with a reason that names their key's size.
      const quarantined = (await getJson(`${rt.url}/flows/${flow}/quarantine`)).json as { reason: string }[];
      expect(quarantined.map((q) => q.reason.split(';')[0]).sort()).toEqual([`key is ${longest + 1} bytes`, 'key is 2101 bytes'].sort());

      // Nothing reached a DLQ.
      const depths = await dlqDepths(flow);
      expect(Object.values(depths).every((n) => n === 0), JSON.stringify(depths)).toBe(true);
    });
  }
});

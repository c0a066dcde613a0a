import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-raw-pii-secret-0000001').toString('base64');
const EMAIL = 'raw.person@example.com';
const SSN = '078-05-1120';

const config = parseConfig({
  flows: [
    {
      id: 'people',
      key: ['id'],
      sources: [{ id: 'app', type: 'webhook' }],
      transform: {
        filter: { kind: [{ 'anything-but': 'test' }] },
        mask: { email: 'email', ssn: 'redact' },
        schema: { type: 'object', properties: { age: { type: 'number' } } },
      },
      conflict: { strategy: 'lww' },
      targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
    },
  ],
});

describe('raw values rest only in the capture-to-transform queue, its DLQ and claim-check objects', () => {
  let rt: Runtime;
  const logs: string[] = [];

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: (l) => logs.push(l), verbose: true });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('finds the raw e-mail and SSN in no table, no later queue or DLQ and no log line, whatever each record became', async () => {
    // Prepare: one record of each fate, each holding the raw values.
    const pii = { email: EMAIL, ssn: SSN, kind: 'person' };
    const records = [
      { id: 'ok', ...pii },
      { id: 'filtered', ...pii, kind: 'test' },
      { id: 'invalid', ...pii, age: 'old' },
      { id: 'x'.repeat(2000), ...pii },
      { id: 'big', ...pii, n: 12345678901234567890 },
      { ...pii },
    ];

    // Act
    const answer = await postWebhook(`${rt.url}/webhooks/people`, JSON.stringify(records).replace('"n":12345678901234567000', '"n":12345678901234567890'), { secret: SECRET });
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'pipeline settled', 60_000);

    // Assess
    expect(answer.status).toBe(202);
    const found: string[] = [];
    const look = (where: string, text: string) => {
      if (text.includes(EMAIL) || text.includes(SSN)) found.push(where);
    };
    const tables = (await rt.clients.dynamodb.send(new ListTablesCommand({}))).TableNames ?? [];
    expect(tables.length).toBeGreaterThan(3);
    for (const table of tables) {
      const items = (await rt.clients.doc.send(new ScanCommand({ TableName: table }))).Items ?? [];
      look(`table ${table}`, JSON.stringify(items));
    }
    for (const [name, queue] of Object.entries(rt.resources.flows.people!.queues)) {
      for (const [which, url] of [
        [name, queue.url],
        [`${name} DLQ`, queue.dlq.url],
      ] as const) {
        const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }));
        if (name !== 'transform') look(`queue ${which}`, JSON.stringify(got.Messages ?? []));
      }
    }
    logs.forEach((line, i) => look(`log line ${i}`, line));
    expect(found).toEqual([]);
    // The records did reach their fates: the masked one is in the replica.
    const replica = (await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows.people!.targetTables.replica! }))).Items ?? [];
    expect(replica.map((i) => i.id)).toEqual(['ok']);
  });
});

import { UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { eventId } from '../../functions/core/envelope';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const SECRET = 'whsec_' + Buffer.from('syncline-nothing-lost-secret-01').toString('base64');

/** A flow with a filter, a schema and a replica table; its functions are the ones Lambda runs. */
const config = parseConfig({
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
});

type Fate = 'delivered' | 'filtered' | 'superseded' | 'quarantined' | 'dlq';

describe('nothing is lost: every accepted record ends in exactly one place', () => {
  let rt: Runtime;
  const url = () => `${rt.url}/webhooks/ledger/app`;

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
    // A replica index on a number attribute makes a record with a string `score` impossible to deliver: our poison.
    await rt.clients.dynamodb.send(
      new UpdateTableCommand({
        TableName: rt.resources.flows.ledger!.targetTables.replica,
        AttributeDefinitions: [{ AttributeName: 'score', AttributeType: 'N' }],
        GlobalSecondaryIndexUpdates: [{ Create: { IndexName: 'byScore', KeySchema: [{ AttributeName: 'score', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } } }],
      }),
    );
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('counts delivered + filtered + superseded + quarantined + in DLQ = accepted, and replays are reported as duplicates', async () => {
    // Prepare: 63 records of every kind, sent in mixed batches.
    const t0 = Date.now() - 60_000;
    const valid = Array.from({ length: 30 }, (_, i) => ({ id: `v-${i}`, amount: i, ts: t0 }));
    const older = Array.from({ length: 10 }, (_, i) => ({ id: `v-${i}`, amount: -1, ts: t0 - 5_000 }));
    const filtered = Array.from({ length: 10 }, (_, i) => ({ id: `f-${i}`, amount: i, test: true, ts: t0 }));
    const invalid = Array.from({ length: 10 }, (_, i) => ({ id: `q-${i}`, amount: 'lots', ts: t0 }));
    const poison = Array.from({ length: 3 }, (_, i) => ({ id: `p-${i}`, amount: i, score: 'high', ts: t0 }));
    const batches = [
      [...valid.slice(0, 15), ...filtered.slice(0, 5), ...poison.slice(0, 2)],
      [...valid.slice(15), ...invalid.slice(0, 5)],
      [...filtered.slice(5), ...invalid.slice(5), poison[2]!],
    ];
    const sent: { webhookId: string; records: Record<string, unknown>[] }[] = batches.map((records, i) => ({ webhookId: `msg_batch_${i}`, records }));

    // Act: the batches, a replay of the first one, then the older versions of ten valid records.
    const answers = [];
    for (const b of sent) answers.push(await postWebhook(url(), b.records, { secret: SECRET, id: b.webhookId }));
    const replay = await postWebhook(url(), sent[0]!.records, { secret: SECRET, id: sent[0]!.webhookId });
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'first wave settled', 30_000);
    sent.push({ webhookId: 'msg_older', records: older });
    answers.push(await postWebhook(url(), older, { secret: SECRET, id: 'msg_older' }));

    // Assess: what the webhook answered.
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const accepted = answers.reduce((n, a) => n + a.json.accepted, 0);
    expect(accepted).toBe(63);
    expect(replay.json).toEqual({ accepted: 0, duplicates: sent[0]!.records.length, quarantined: 0 });

    // Assess: where each accepted record ended.
    const dlqUrl = rt.resources.flows.ledger!.queues['deliver-replica']!.dlq.url;
    const inDlq = new Set<string>();
    await waitFor(async () => {
      const got = await rt.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      for (const m of got.Messages ?? []) {
        for (const id of JSON.parse(m.Body!).eventIds as string[]) inDlq.add(id);
        await rt.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle! }));
      }
      return inDlq.size >= poison.length && (await rt.idle()) ? true : undefined;
    }, 'poison records in the DLQ', 40_000);

    const quarantinedIds = new Set(((await getJson(`${rt.url}/flows/ledger/quarantine`)).json as { id: string }[]).map((q) => q.id));
    const fates = new Map<string, Fate>();
    for (const { webhookId, records } of sent) {
      for (const [index, record] of records.entries()) {
        const id = eventId('ledger', 'app', webhookId, index);
        const lineage = (await getJson(`${rt.url}/flows/ledger/records/${encodeURIComponent(String(record.id))}/lineage`)).json as { eventId: string; outcome: string; version?: number }[];
        const mine = lineage.filter((e) => e.eventId === id).map((e) => e.outcome);
        // Every place the record is found in, not the first: it must be exactly one.
        const places: Fate[] = [];
        if (quarantinedIds.has(id)) places.push('quarantined');
        if (mine.includes('filtered')) places.push('filtered');
        if (mine.includes('superseded')) places.push('superseded');
        if (inDlq.has(id)) places.push('dlq');
        const item = (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.ledger!.targetTables.replica, Key: { id: record.id }, ConsistentRead: true }))).Item;
        if (mine.includes('won') && item?.amount === record.amount) places.push('delivered');
        expect(places, `record ${String(record.id)} (event ${id}) is in ${places.length} places`).toHaveLength(1);
        const fate = places[0];
        expect(fates.has(id), `event ${id} counted twice`).toBe(false);
        fates.set(id, fate!);
      }
    }
    const count = (f: Fate) => [...fates.values()].filter((x) => x === f).length;
    expect({
      delivered: count('delivered'),
      filtered: count('filtered'),
      superseded: count('superseded'),
      quarantined: count('quarantined'),
      dlq: count('dlq'),
    }).toEqual({ delivered: 30, filtered: 10, superseded: 10, quarantined: 10, dlq: 3 });
    expect(fates.size).toBe(accepted);
  });
});

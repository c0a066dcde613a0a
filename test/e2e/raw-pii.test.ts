import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { LOCAL_PAYLOAD_BUCKET } from '../../lib/local/resources';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { findRawValues } from '../support/raw-values';
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
    {
      // A masked column no PII detector would recognise: only the mask config can keep it out.
      id: 'rows',
      key: ['id'],
      sources: [{ id: 'pg', type: 'webhook', format: 'debezium', table: { include: ['shop.rows'] } }],
      transform: { mask: { nickname: 'redact' } },
      targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
    },
  ],
});
const MARK = 'Zq-Marker-7';

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
    expect(await findRawValues(rt, [EMAIL, SSN], { logs })).toEqual([]);
    // The records did reach their fates: the masked one is in the replica.
    const replica = (await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows.people!.targetTables.replica! }))).Items ?? [];
    expect(replica.map((i) => i.id)).toEqual(['ok']);
  });

  it('keeps a masked column out of every table, later queue, log line and leftover claim: Debezium rows, a malformed event and a row over 256 KB', async () => {
    // Prepare: a row, a row large enough to travel by claim check, and a malformed event, each holding the value.
    const source = { ts_ms: Date.now() - 5_000, db: 'shop', table: 'rows' };
    const events = [
      { payload: { op: 'c', after: { id: 1, nickname: MARK }, source } },
      { payload: { op: 'c', after: { id: 2, nickname: MARK, notes: 'y'.repeat(300 * 1024) }, source } },
      { payload: { op: 'x', after: { id: 3, nickname: MARK }, source } },
    ];

    // Act
    const answer = await postWebhook(`${rt.url}/webhooks/rows/pg`, events, { secret: SECRET });
    await waitFor(async () => ((await rt.idle()) ? true : undefined), 'pipeline settled', 60_000);

    // Assess
    expect(answer.json).toEqual({ accepted: 2, duplicates: 0, quarantined: 1 });
    // Claim checks are deleted once consumed: none is left once the flow is idle.
    const claims = (await rt.clients.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_PAYLOAD_BUCKET, Prefix: 'claims/' }))).Contents ?? [];
    expect(claims).toEqual([]);
    expect(await findRawValues(rt, [MARK], { logs })).toEqual([]);
    const replica = (await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows.rows!.targetTables.replica! }))).Items ?? [];
    expect(replica.map((i) => [i.id, i.nickname]).sort()).toEqual([
      ['1', '[REDACTED]'],
      ['2', '[REDACTED]'],
    ]);
  });
});

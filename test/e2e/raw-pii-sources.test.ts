import { DeleteItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynclineConfigInput } from '../../functions/config/schema';
import { main } from '../../lib/cli/main';
import { parseConfig } from '../../lib/config/load';
import { LOCAL_PAYLOAD_BUCKET } from '../../lib/local/resources';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';
import { findRawValues, recordClaimsInto } from '../support/raw-values';
import { getJson } from '../support/webhooks';

const TABLE = 'e2e-pii-source';
const BUCKET = 'e2e-pii-inbox';
const BIG = '12345678901234567890';

type Flow = SynclineConfigInput['flows'][number];
const transform: Flow['transform'] = {
  filter: { kind: [{ 'anything-but': 'test' }] },
  // No PII detector knows a nickname, and the alias is nested: only the mask config keeps them out.
  mask: { nickname: 'redact', 'profile.alias': 'redact' },
  schema: { type: 'object', properties: { age: { type: 'number' } } },
};
const replica = [{ id: 'replica', type: 'dynamodb' as const, keyAttribute: 'id' }];
const config = parseConfig({
  flows: [
    { id: 'table', key: ['id'], sources: [{ id: 'ddb', type: 'dynamodb-stream', tableName: TABLE }], transform, targets: replica },
    { id: 'inbox', key: ['id'], sources: [{ id: 'queue', type: 'sqs' }], transform, targets: replica },
    {
      id: 'files',
      key: ['id'],
      sources: [
        { id: 'jsonl', type: 'schedule', every: '1 day', s3: { bucket: BUCKET, prefix: 'jsonl/', format: 'jsonl' } },
        { id: 'csv', type: 'schedule', every: '1 day', s3: { bucket: BUCKET, prefix: 'csv/', format: 'csv' } },
      ],
      transform,
      targets: replica,
    },
    {
      // The key itself is masked: the pull's own state (per-key hashes, key lists, key fields for deletes) must not hold it.
      id: 'people',
      key: ['email'],
      sources: [{ id: 'export', type: 'schedule', every: '1 day', s3: { bucket: BUCKET, prefix: 'people/', format: 'jsonl' } }],
      transform: { mask: { email: 'hash' } },
      targets: [{ id: 'replica', type: 'dynamodb' as const, keyAttribute: 'email' }],
    },
  ],
});

// One pair of values per source, so a find names the source; at most 10 characters, the context JSON.parse errors quote.
const pii = (tag: string) => ({ nickname: `Zq7nick${tag}`, profile: { alias: `Yv3alias${tag}`, city: 'Lyon' }, kind: 'person' });
const raw = (tag: string) => [pii(tag).nickname, pii(tag).profile.alias];
const LONG_KEY = 'x'.repeat(2000);

describe('raw values of dynamodb-stream, sqs and schedule (S3) sources rest only in the capture-to-transform queue, its DLQ and claim checks', () => {
  let rt: Runtime;
  const logs: string[] = [];
  const claimsPut: string[] = [];

  beforeAll(async () => {
    rt = await startRuntime({
      config,
      port: 0,
      visibilityTimeoutSeconds: 1,
      log: (l) => logs.push(l),
      verbose: true,
      instrumentClients: recordClaimsInto(claimsPut),
    });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  const replicaOf = async (flow: string) =>
    ((await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows[flow]!.targetTables.replica, ConsistentRead: true }))).Items ?? []).sort((a, b) =>
      String(a.id).localeCompare(String(b.id)),
    );
  const quarantineOf = async (flow: string) => (await getJson(`${rt.url}/flows/${flow}/quarantine`)).json as { reason: string; source: string }[];
  /** Waits for the flow's expected replica keys and quarantine count with the whole runtime idle. */
  const settled = (flow: string, keys: string[], quarantined: number, also = (_items: Record<string, any>[]) => true) =>
    waitFor(
      async () => {
        const [items, q] = [await replicaOf(flow), await quarantineOf(flow)];
        const done = JSON.stringify(items.map((i) => i.id)) === JSON.stringify(keys) && also(items) && q.length === quarantined && (await rt.idle());
        return done ? { items, q: q.map((i) => i.reason).sort() } : undefined;
      },
      `${flow}: ${keys.join(', ')} delivered and ${quarantined} quarantined`,
      45_000,
    );
  const filtered = async (flow: string, key: string) =>
    ((await getJson(`${rt.url}/flows/${flow}/records/${key}/lineage`)).json as { step: string; outcome: string }[]).some((e) => e.step === 'transform' && e.outcome === 'filtered');
  const masked = (items: Record<string, any>[]) => items.map((i) => [i.id, i.nickname, i.profile?.alias]);

  /** Where the values are found outside what the guarantee allows; the source table and bucket are the sender's own data. */
  const findRaw = (values: string[]) => findRawValues(rt, values, { logs, skipTables: [TABLE], skipBuckets: [BUCKET] });
  /** Claim checks are deleted once consumed: some were written since `from`, and none is left once the runtime is idle. */
  const claimsLeft = async (from: number) => {
    expect(claimsPut.length).toBeGreaterThan(from);
    return (await rt.clients.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_PAYLOAD_BUCKET, Prefix: 'claims/' }))).Contents ?? [];
  };

  it('dynamodb-stream: items put, updated and deleted in the source table leave no raw nickname or alias behind', async () => {
    // Prepare: one item per fate; an update (whose old image travels as `before`) and a delete.
    const claimsBefore = claimsPut.length;
    const put = (item: Record<string, AttributeValue>) => rt.clients.dynamodb.send(new PutItemCommand({ TableName: TABLE, Item: item }));
    const item = (id: string, extra: Record<string, unknown> = {}) => marshall({ id, ...pii('S'), ...extra });

    // Act
    await put(item('s-gone'));
    await put(item('s-ok'));
    await put(item('s-filtered', { kind: 'test' }));
    await put(item('s-invalid', { age: 'old' }));
    await put(item(LONG_KEY));
    // A number DynamoDB holds but JSON cannot carry, and the masked field as a string set.
    await put({ ...item('s-big'), n: { N: BIG } });
    await put({ ...item('s-set'), nickname: { SS: [pii('S').nickname, 'Zed'] } });
    // Over 256 KB on the way: travels through the claim check.
    await put(item('s-large', { notes: 'y'.repeat(300 * 1024) }));
    await rt.clients.dynamodb.send(
      new UpdateItemCommand({ TableName: TABLE, Key: { id: { S: 's-ok' } }, UpdateExpression: 'SET profile.city = :c', ExpressionAttributeValues: { ':c': { S: 'Nice' } } }),
    );
    await rt.clients.dynamodb.send(new DeleteItemCommand({ TableName: TABLE, Key: { id: { S: 's-gone' } } }));
    const { items, q } = await settled('table', ['s-large', 's-ok', 's-set'], 3, (got) => got.find((i) => i.id === 's-ok')?.profile?.city === 'Nice');

    // Assess: each item reached its fate.
    expect(masked(items)).toEqual([
      ['s-large', '[REDACTED]', '[REDACTED]'],
      ['s-ok', '[REDACTED]', '[REDACTED]'],
      ['s-set', '[REDACTED]', '[REDACTED]'],
    ]);
    expect(q).toEqual([expect.stringMatching(/^key is 2000 bytes/), expect.stringMatching(/^record cannot be carried exactly: number at \$\.n/), 'schema validation failed']);
    expect(await filtered('table', 's-filtered')).toBe(true);
    // Assess: the raw values are nowhere else.
    expect(await claimsLeft(claimsBefore)).toEqual([]);
    expect(await findRaw(raw('S'))).toEqual([]);
  });

  it('sqs: records, a batch, a number beyond 2^53, a body that is not JSON and a body near 256 KB leave no raw nickname or alias behind', async () => {
    // Prepare
    const claimsBefore = claimsPut.length;
    const queueUrl = rt.resources.flows.inbox!.queues['inbound-queue']!.url;
    const send = (body: string) => rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    const p = pii('Q');

    // Act
    await send(JSON.stringify({ id: 'q-ok', ...p }));
    await send(JSON.stringify([{ id: 'q-filtered', ...p, kind: 'test' }, { id: 'q-invalid', ...p, age: 'old' }, { ...p }, { id: LONG_KEY, ...p }]));
    await send(JSON.stringify({ id: 'q-big', ...p }).replace(/}$/, `,"n":${BIG}}`));
    // A sender that forgot to quote a value.
    await send(`{"id":"q-text","nickname":${p.nickname},"alias":${p.profile.alias}}`);
    await send(JSON.stringify({ id: 'q-large', ...p, notes: 'y'.repeat(250 * 1024) }));
    const { items, q } = await settled('inbox', ['q-large', 'q-ok'], 5);

    // Assess: each message reached its fate.
    expect(masked(items)).toEqual([
      ['q-large', '[REDACTED]', '[REDACTED]'],
      ['q-ok', '[REDACTED]', '[REDACTED]'],
    ]);
    expect(q).toEqual([
      expect.stringMatching(/^body is not valid JSON/),
      expect.stringMatching(/^key is 2000 bytes/),
      'missing key field "id"',
      expect.stringMatching(/^record cannot be carried exactly: number at \$\.n/),
      'schema validation failed',
    ]);
    expect(await filtered('inbox', 'q-filtered')).toBe(true);
    // Assess: the raw values are nowhere else.
    expect(await claimsLeft(claimsBefore)).toEqual([]);
    expect(await findRaw(raw('Q'))).toEqual([]);
  });

  it('schedule (S3): JSONL and CSV objects, with a broken line and a broken CSV record, leave no raw nickname or alias behind', async () => {
    // Prepare
    const claimsBefore = claimsPut.length;
    const p = pii('F');
    const jsonl = [
      JSON.stringify({ id: 'f-ok', ...p }),
      JSON.stringify({ id: 'f-filtered', ...p, kind: 'test' }),
      JSON.stringify({ id: 'f-invalid', ...p, age: 'old' }),
      JSON.stringify({ id: 'f-big', ...p }).replace(/}$/, `,"n":${BIG}}`),
      JSON.stringify({ ...p }),
      `{"id":"f-broken","nickname":"${p.nickname}"`,
      JSON.stringify({ id: 'f-large', ...p, notes: 'y'.repeat(300 * 1024) }),
    ].join('\n');
    // A stray quote (an inch mark) inside an unquoted field makes the CSV record unreadable.
    const csv = ['id,nickname,kind', `c-ok,${p.nickname},person`, `c-filtered,${p.nickname},test`, `c-bad,${p.nickname}",person`].join('\n') + '\n';
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jsonl/batch-1.jsonl', Body: jsonl }));
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'csv/batch-1.csv', Body: csv }));

    // Act
    const pull = async (source: string) => (await fetch(`${rt.url}/flows/files/sources/${source}/pull`, { method: 'POST' })).json();
    const [fromJsonl, fromCsv] = [await pull('jsonl'), await pull('csv')];
    const { items, q } = await settled('files', ['c-ok', 'f-large', 'f-ok'], 5);

    // Assess: each record reached its fate.
    // The pull quarantines the key-less record, the broken line and the one with a number past 2^53.
    expect(fromJsonl).toMatchObject({ records: 7, quarantined: 3, complete: true });
    expect(fromCsv).toMatchObject({ records: 3, quarantined: 1, complete: true });
    expect(masked(items)).toEqual([
      ['c-ok', '[REDACTED]', undefined],
      ['f-large', '[REDACTED]', '[REDACTED]'],
      ['f-ok', '[REDACTED]', '[REDACTED]'],
    ]);
    expect(q).toEqual([
      'CSV record on line 4 is invalid: a quote inside an unquoted value in field "nickname"',
      expect.stringMatching(/^line 6 is not valid JSON/),
      'missing key field "id"',
      expect.stringMatching(/^record cannot be carried exactly: number at \$\.n/),
      'schema validation failed',
    ]);
    expect(await filtered('files', 'f-filtered')).toBe(true);
    expect(await filtered('files', 'c-filtered')).toBe(true);
    // Assess: the raw values are nowhere else.
    expect(await claimsLeft(claimsBefore)).toEqual([]);
    expect(await findRaw(raw('F'))).toEqual([]);
  });

  it('schedule (S3) with a masked key: changes and an inferred delete leave no raw key in the pull state', async () => {
    // Prepare
    const emails = ['Zq7ann@example.org', 'Zq7bob@example.org', 'Zq7cy@example.org', 'Zq7dee@example.org', 'Zq7eve@example.org', 'Zq7fay@example.org'];
    const file = (list: string[]) => list.map((email, i) => JSON.stringify({ email, n: i })).join('\n');
    const pull = async () => (await fetch(`${rt.url}/flows/people/sources/export/pull`, { method: 'POST' })).json();
    const keys = async () => ((await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.flows.people!.targetTables.replica, ConsistentRead: true }))).Items ?? []).map((i) => String(i.email));
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'people/all.jsonl', Body: file(emails) }));
    const first = await pull();
    await waitFor(async () => (await keys()).length === 6 && (await rt.idle()), 'six people delivered', 45_000);

    // Act: bob is gone from the next export.
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'people/all.jsonl', Body: file(emails.filter((e) => !e.includes('bob'))) }));
    const second = await pull();
    await waitFor(async () => (await keys()).length === 5 && (await rt.idle()), 'the delete delivered', 45_000);

    // Assess
    expect(first).toMatchObject({ changed: 6, complete: true });
    expect(second).toMatchObject({ deletesInferred: 1, complete: true });
    expect((await keys()).every((k) => /^hmac:[0-9a-f]{64}$/.test(k))).toBe(true);
    expect(await findRaw(emails)).toEqual([]);
  });

  it('syncline pull --purge-raw-keys deletes the raw key items an earlier release orphaned, and only those', async () => {
    // Prepare: a sealed pull of five people; an item as an earlier release left it (no key list names it), and one of another source.
    const people = ['Zq7ann@example.org', 'Zq7cy@example.org', 'Zq7dee@example.org', 'Zq7eve@example.org', 'Zq7fay@example.org'];
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'people/all.jsonl', Body: people.map((email, i) => JSON.stringify({ email, n: i })).join('\n') }));
    expect(await (await fetch(`${rt.url}/flows/people/sources/export/pull`, { method: 'POST' })).json()).toMatchObject({ complete: true });
    const state = rt.resources.tables.state;
    const orphan = 'Zq7old@example.org';
    await rt.clients.doc.send(new PutCommand({ TableName: state, Item: { pk: `~pull#people#export#k#${orphan}`, hash: 'h', kd: { email: orphan } } }));
    await rt.clients.doc.send(new PutCommand({ TableName: state, Item: { pk: `~pull#files#jsonl#k#f-kept`, hash: 'h', kd: { id: 'f-kept' } } }));
    const cli = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['pull', ...args, '--url', rt.url], { out: (l) => out.push(l), err: (l) => err.push(l) });
      return { code, out: out.join('\n'), err: err.join('\n') };
    };

    // Act
    const purged = await cli('people', 'export', '--purge-raw-keys', '--json');
    const unsealed = await cli('files', 'jsonl', '--purge-raw-keys');

    // Assess
    expect(purged).toMatchObject({ code: 0 });
    expect(JSON.parse(purged.out)).toEqual({ flow: 'people', source: 'export', deleted: 1, kept: 5 });
    expect(await findRaw([orphan])).toEqual([]);
    expect(unsealed).toMatchObject({ code: 1, err: expect.stringContaining('nothing to purge') });
    const other = await rt.clients.doc.send(new GetCommand({ TableName: state, Key: { pk: '~pull#files#jsonl#k#f-kept' } }));
    expect(other.Item).toBeDefined();
  });
});

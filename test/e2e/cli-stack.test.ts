import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotEnvelope } from '../../functions/core/capture/dynamodb-stream';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { startFakeCloudFormation, startFakeIamHttpApi, startFakeLambda, startSqsMoveTaskFront, type FakeEndpoint } from '../support/fake-aws';
import { waitFor } from '../support/local-servers';
import { getJson, postWebhook } from '../support/webhooks';

const exec = promisify(execFile);
const BIN = join(process.cwd(), 'bin/syncline.mjs');
const SECRET = 'whsec_' + Buffer.from('syncline-cli-stack-secret-00001').toString('base64');
const REGION = 'eu-west-1';
const KEY = { id: 'AKIDCLISTACKTEST', secret: 'cli-stack-secret-key' };

const config = parseConfig(
  {
    flows: [
      {
        id: 'shop',
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook', timestampField: 'updatedAt' },
          { id: 'erp', type: 'webhook', timestampField: 'updatedAt' },
          { id: 'table', type: 'dynamodb-stream', tableName: 'cli-stack-orders' },
          { id: 'feed', type: 'schedule', every: '1 day', s3: { bucket: 'cli-stack-feed', prefix: 'in/', format: 'jsonl' } },
        ],
        conflict: { strategy: 'manual' },
        targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
        audit: { level: 'all' },
      },
    ],
  },
  'cli --stack e2e',
);

describe('syncline CLI against a deployed stack (the real binary, --stack)', () => {
  let rt: Runtime;
  let cfn: FakeEndpoint;
  let api: Awaited<ReturnType<typeof startFakeIamHttpApi>>;
  let sqs: Awaited<ReturnType<typeof startSqsMoveTaskFront>>;
  let lambda: Awaited<ReturnType<typeof startFakeLambda>>;
  let env: NodeJS.ProcessEnv;

  /** Runs the real CLI binary with the AWS endpoints pointing at the fakes; answers its exit code and output. */
  async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const run = exec(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, cwd: process.cwd() });
      run.child.stdin?.end(stdin ?? '');
      const { stdout, stderr } = await run;
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }
  const replica = async (key: string) =>
    (await rt.clients.doc.send(new GetCommand({ TableName: rt.resources.flows.shop!.targetTables.replica, Key: { id: key }, ConsistentRead: true }))).Item;

  beforeAll(async () => {
    rt = await startRuntime({ config, port: 0, webhookSecret: SECRET, visibilityTimeoutSeconds: 1, log: () => {} });
    const flow = (await getJson(`${rt.url}/flows/shop`)).json as { resources: { functions: { id: string; name: string; step: string }[] } };
    const captures = Object.fromEntries(flow.resources.functions.filter((f) => f.step === 'capture').map((f) => [f.name, { flow: 'shop', source: f.id.replace(/^capture-/, '') }]));
    api = await startFakeIamHttpApi({ upstream: rt.url, region: REGION, accessKeyId: KEY.id, secretAccessKey: KEY.secret, denied: ['GET /flows/*/quarantine'] });
    cfn = await startFakeCloudFormation({ 'test-stack': { ApiEndpoint: api.url, DashboardName: 'syncline' }, 'half-stack': { DashboardName: 'syncline' } });
    sqs = await startSqsMoveTaskFront(rt.endpoints.sqs);
    lambda = await startFakeLambda(rt.url, captures);
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: KEY.id,
      AWS_SECRET_ACCESS_KEY: KEY.secret,
      AWS_ENDPOINT_URL_CLOUDFORMATION: cfn.url,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  });
  afterAll(async () => {
    await Promise.all([cfn?.close(), api?.close(), sqs?.close(), lambda?.close()]);
    await rt?.stop();
  });

  it('lists and resolves a conflict and shows the lineage timeline, through the signed admin API', async () => {
    // Prepare: two sources edit the same field at once; the manual strategy parks the conflict.
    const at = new Date(Date.now() - 5_000).toISOString();
    expect((await postWebhook(`${rt.url}/webhooks/shop/crm`, { id: 'k-1', email: 'ada@crm.io', name: 'Ada', updatedAt: at }, { secret: SECRET })).status).toBe(202);
    expect((await postWebhook(`${rt.url}/webhooks/shop/erp`, { id: 'k-1', email: 'ada@erp.io', updatedAt: at }, { secret: SECRET })).status).toBe(202);
    const opened = await waitFor(async () => ((await getJson(`${rt.url}/flows/shop/conflicts`)).json as { id: string; key: string }[]).find((c) => c.key === 'k-1'), 'conflict on k-1');

    // Act
    const list = await cli(['conflicts', 'list', 'shop', '--stack', 'test-stack']);
    const listJson = await cli(['conflicts', 'list', 'shop', '--stack', 'test-stack', '--json']);
    const resolved = await cli(['conflicts', 'resolve', 'shop', opened.id, '--choose', 'incoming', '--by', 'ops', '--stack', 'test-stack', '--region', REGION, '--json']);
    const answer = JSON.parse(resolved.stdout) as { conflict: { id: string; status: string; incoming: { value: string } }; changeId: string };
    await waitFor(async () => ((await replica('k-1'))?.email === answer.conflict.incoming.value ? true : undefined), 'the chosen value delivered');
    await waitFor(async () => ((await getJson(`${rt.url}/flows/shop/records/k-1/lineage`)).json as { eventId: string; step: string }[]).some((e) => e.eventId === answer.changeId && e.step === 'deliver') || undefined, 'delivery in lineage');
    const lineage = await cli(['lineage', 'shop', 'k-1', '--stack', 'test-stack']);

    // Assess
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(`${opened.id}  key=k-1  field=email  open`);
    expect(list.stdout).toMatch(/current {2}"ada@(crm|erp)\.io" from (crm|erp)/);
    expect((JSON.parse(listJson.stdout) as { id: string }[]).map((c) => c.id)).toContain(opened.id);
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(answer.conflict).toMatchObject({ id: opened.id, status: 'resolved' });
    expect(lineage.code, lineage.stderr).toBe(0);
    const lines = lineage.stdout.trim().split('\n');
    const review = lines.filter((l) => l.includes(`event=${answer.changeId}`));
    expect(review.find((l) => /\bcapture\b/.test(l)), lineage.stdout).toContain('by ops');
    expect(review.find((l) => /\bresolve\b/.test(l)), lineage.stdout).toMatch(/resolve\s+won\s+source=syncline:review/);
    expect(review.find((l) => /\bdeliver\b/.test(l)), lineage.stdout).toMatch(/deliver\s+delivered/);
    expect(lines.every((l) => /^\d{4}-\d{2}-\d{2}T/.test(l))).toBe(true);
    expect(api.refused).toEqual([]);
  });

  it('redrives a DLQ with a message move task, and the moved message is delivered', async () => {
    // Prepare: a change that failed its retries sits in the transform DLQ.
    const queue = rt.resources.flows.shop!.queues.transform!;
    const envelope = snapshotEnvelope(config.flows[0]!, 'table', { id: 'r-1', name: 'Redriven' }, Date.now());
    await rt.clients.sqs.send(new SendMessageCommand({ QueueUrl: queue.dlq.url, MessageBody: JSON.stringify(envelope) }));

    // Act
    const redrive = await cli(['redrive', 'shop', '--stack', 'test-stack', '--json']);
    const again = await cli(['redrive', 'shop', '--step', 'transform', '--stack', 'test-stack']);
    const unknownStep = await cli(['redrive', 'shop', '--step', 'nope', '--stack', 'test-stack']);

    // Assess
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(JSON.parse(redrive.stdout)).toEqual({ flow: 'shop', moved: { transform: 1, resolve: 0, 'deliver-replica': 0 }, total: 1 });
    expect(sqs.tasks).toEqual([expect.objectContaining({ SourceArn: queue.dlq.arn, DestinationArn: queue.arn, Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 })]);
    await waitFor(async () => ((await replica('r-1'))?.name === 'Redriven' ? true : undefined), 'r-1 delivered after the redrive');
    expect(again).toMatchObject({ code: 0, stdout: '0 messages moved\n' });
    expect(unknownStep.code).toBe(1);
    expect(unknownStep.stderr).toContain('step must be one of transform, resolve, deliver-replica');
  });

  it('backfills a dynamodb-stream source by invoking its capture function, and reports a function error', async () => {
    // Prepare
    for (const id of ['b-1', 'b-2', 'b-3']) await rt.clients.doc.send(new PutCommand({ TableName: 'cli-stack-orders', Item: { id, name: `item ${id}` } }));

    // Act
    const backfill = await cli(['backfill', 'shop', '--stack', 'test-stack', '--segments', '2', '--max-items', '1', '--json']);
    lambda.crashes.push('Task timed out after 900.00 seconds');
    const crashed = await cli(['backfill', 'shop', '--source', 'table', '--stack', 'test-stack']);
    const wrongType = await cli(['backfill', 'shop', '--source', 'crm', '--stack', 'test-stack']);

    // Assess
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(JSON.parse(backfill.stdout)).toEqual([expect.objectContaining({ flow: 'shop', source: 'table', table: 'cli-stack-orders', scanned: 3, sent: 3, failed: 0 })]);
    const calls = lambda.invoked.filter((c) => (c.payload as { action: string }).action === 'backfill');
    expect(calls[0]).toEqual({ name: 'shop-capture-table', payload: expect.objectContaining({ action: 'backfill', sourceId: 'table', totalSegments: 2, maxItems: 1 }) });
    // Three items, at most one per invocation: segments continue on their cursors.
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.some((c) => typeof (c.payload as { cursor?: unknown }).cursor === 'string')).toBe(true);
    expect(crashed.code).toBe(1);
    expect(crashed.stderr).toContain('shop-capture-table failed (Unhandled): Task timed out after 900.00 seconds');
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toContain('source "crm" of flow "shop" is a webhook source; only dynamodb-stream sources can be backfilled');
    for (const id of ['b-1', 'b-2', 'b-3']) await waitFor(async () => ((await replica(id)) ? true : undefined), `${id} delivered`);
  });

  it('pulls a schedule source by invoking its capture function', async () => {
    // Prepare
    await rt.clients.s3.send(new PutObjectCommand({ Bucket: 'cli-stack-feed', Key: 'in/1.jsonl', Body: '{"id":"p-1","name":"pulled"}\n' }));

    // Act
    const pull = await cli(['pull', 'shop', 'feed', '--accept-deletes', '--stack', 'test-stack', '--json']);

    // Assess
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout)).toMatchObject({ flow: 'shop', source: 'feed', records: 1, changed: 1, complete: true });
    expect(lambda.invoked.at(-1)).toEqual({ name: 'shop-capture-feed', payload: { action: 'pull', sourceId: 'feed', acceptDeletes: true } });
    await waitFor(async () => ((await replica('p-1'))?.name === 'pulled' ? true : undefined), 'p-1 delivered');
  });

  it('replays a key to its target and dry-runs a record, through the signed admin API', async () => {
    // Prepare
    const at = new Date(Date.now() - 60_000).toISOString();
    expect((await postWebhook(`${rt.url}/webhooks/shop/crm`, { id: 'k-r', name: 'Rita', updatedAt: at }, { secret: SECRET })).status).toBe(202);
    await waitFor(() => replica('k-r'), 'k-r delivered');
    const version = ((await getJson(`${rt.url}/flows/shop/records/k-r`)).json as { version: number }).version;

    // Act
    const replay = await cli(['replay', 'shop', '--key', 'k-r', '--stack', 'test-stack', '--json']);
    const dry = await cli(['try', 'shop', '--source', 'erp', '--record', '-', '--stack', 'test-stack', '--json'], {}, JSON.stringify({ id: 'k-r', name: 'Rita B', updatedAt: new Date().toISOString() }));

    // Assess
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ keys: ['k-r'], targets: ['replica'], by: `arn:aws:iam::111122223333:user/${KEY.id}` });
    const lineage = await waitFor(async () => {
      const l = (await getJson(`${rt.url}/flows/shop/records/k-r/lineage`)).json as { outcome: string; detail?: Record<string, unknown> }[];
      return l.some((e) => e.outcome === 'delivered' && e.detail?.replayedBy) ? l : undefined;
    }, 'the replayed delivery');
    expect(lineage.filter((e) => e.outcome === 'replayed')).toHaveLength(1);
    expect(dry.code, dry.stderr).toBe(0);
    // The flow reviews concurrent edits by hand: an erp edit of crm's field would open a conflict.
    expect(JSON.parse(dry.stdout)).toMatchObject({
      outcome: 'passed',
      source: 'erp',
      resolve: { outcome: 'conflict', version: version + 1, conflicts: expect.arrayContaining([{ field: 'name', current: 'Rita', incoming: 'Rita B', currentSource: 'crm' }]) },
    });
    expect(((await getJson(`${rt.url}/flows/shop/conflicts`)).json as { key: string }[]).filter((c) => c.key === 'k-r')).toEqual([]);
    expect(((await getJson(`${rt.url}/flows/shop/records/k-r`)).json as { version: number }).version).toBe(version);
  });

  it('status of every flow through the per-flow route', async () => {
    // Act
    const status = await cli(['status', '--stack', 'test-stack', '--json']);
    const table = await cli(['status', 'shop', '--stack', 'test-stack']);

    // Assess
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { flow: string }[]).map((s) => s.flow)).toEqual(['shop']);
    expect(table.stdout).toMatch(/^flow shop/);
    expect(table.stdout).toMatch(/deliver-replica\s+\d+\s+\d+\s+0/);
  });

  it('fails with one clear line: forbidden route, bad credentials, missing stack or output; usage errors exit 2', async () => {
    // Act
    const denied = await cli(['quarantine', 'list', 'shop', '--stack', 'test-stack']);
    const badKey = await cli(['conflicts', 'list', 'shop', '--stack', 'test-stack'], { AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    const unsigned = await fetch(`${api.url}/flows`);
    const missing = await cli(['status', '--stack', 'no-such-stack']);
    const noOutput = await cli(['status', '--stack', 'half-stack']);
    const both = await cli(['status', '--stack', 'test-stack', '--url', rt.url]);
    const regionAlone = await cli(['status', '--region', REGION]);

    // Assess
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toMatch(/^forbidden: the caller lacks execute-api:Invoke on GET \/flows\/\{flowId\}\/quarantine of stack test-stack \(eu-west-1\)/);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('The request signature we calculated does not match');
    expect(badKey.stderr).toContain('check the AWS credentials');
    expect(unsigned.status).toBe(403);
    expect(api.refused).toEqual(expect.arrayContaining(['denied GET /flows/*/quarantine', 'bad signature', 'unsigned']));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('stack "no-such-stack" not found in eu-west-1');
    expect(noOutput.code).toBe(1);
    expect(noOutput.stderr).toContain('stack "half-stack" (CREATE_COMPLETE) has no output ApiEndpoint');
    for (const r of [denied, badKey, missing, noOutput]) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    expect(regionAlone.code).toBe(2);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { mergeChanges, type Conflict } from '../../../functions/core/merge';
import { deployedFlowResources, parseDeployedNames, type DeployedNames } from '../../../functions/entry/deployed-resources';
import { createAdminHttpHandler, createFlowListHandler, type AdminHttpEvent } from '../../../functions/handlers/admin-http-handler';
import { compileTransform } from '../../../functions/core/transform/pipeline';
import { createAdminService, flowSummary } from '../../../functions/handlers/admin-service';
import type { QueueDepth, QueueDepths, StoredState } from '../../../functions/ports';
import { planFlow } from '../../../functions/plan/plan';
import type { FakePublisher, InMemoryAuditLog, InMemoryConflictStore, InMemoryStateStore } from '../../fixtures/fakes';
import { manualFlow } from '../../fixtures/flows';
import { fakeStepContext } from '../../fixtures/step-context';

const CALLER = 'arn:aws:iam::111122223333:user/alice';
const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
const SQS = { url: 'https://sqs.eu-west-1.amazonaws.com/111122223333/', arn: 'arn:aws:sqs:eu-west-1:111122223333:' };
const TABLES = { state: 'Stack-State-1', audit: 'Stack-Audit-1', quarantine: 'Stack-Quarantine-1', conflicts: 'Stack-Conflicts-1', dedup: 'Stack-Dedup-1' };
const NAMES: DeployedNames = {
  queues: {
    transform: 'Stack-transformqueue-A',
    resolve: 'Stack-resolvequeue-B',
    'deliver-replica': 'Stack-deliverreplicaqueue-C',
  },
  functions: { 'capture-crm': 'Stack-capturecrm-1', 'capture-erp': 'Stack-captureerp-2', transform: 'Stack-transform-3', resolve: 'Stack-resolve-4', 'deliver-replica': 'Stack-deliver-5' },
  targetTables: { replica: 'Stack-replica-6' },
  targetBuckets: { lake: 'stack-lakebucket-7' },
  webhookSecrets: { crm: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:webhooksecretcrm-AbC123', erp: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:webhooksecreterp-XyZ789' },
  streamFailureQueues: {},
};
/** DLQ ARNs as the queues' RedrivePolicy gives them. */
const DLQS = { transform: `${SQS.arn}Stack-transformdlq-A`, resolve: `${SQS.arn}Stack-resolvedlq-B`, 'deliver-replica': `${SQS.arn}Stack-deliverreplicadlq-C` };
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const PAYLOADS = 'stack-payloadbucket-8';

/** crm and erp edit p1's email concurrently: the record holds one open conflict. */
const clash = mergeChanges(manualFlow, undefined, [
  { v: 1, id: 'e0', flow: 'people', source: 'crm', key: 'p1', op: 'upsert', data: { id: 'p1', email: 'a@x.io' }, ts: 1000, seq: 'w#0', lineage: [] },
  { v: 1, id: 'e1', flow: 'people', source: 'erp', key: 'p1', op: 'upsert', data: { id: 'p1', email: 'b@x.io' }, ts: 1001, seq: 'w#1', lineage: [] },
]);
const conflict: Conflict = clash.conflicts[0]!;

/** An HTTP API (payload 2.0) event of an IAM-authorized route, as API Gateway builds it. */
function apiEvent(method: 'GET' | 'POST', routePath: string, options: { proxy?: string; body?: string; base64?: boolean; query?: Record<string, string>; headers?: Record<string, string> } = {}): AdminHttpEvent {
  const rawPath = routePath.replace('{proxy+}', options.proxy ?? '');
  return {
    version: '2.0',
    routeKey: `${method} ${routePath}`,
    rawPath,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.query ? { queryStringParameters: options.query } : {}),
    ...(options.proxy !== undefined ? { pathParameters: { proxy: options.proxy } } : {}),
    requestContext: {
      accountId: '111122223333',
      apiId: 'abc123',
      authorizer: { iam: { accessKey: 'AKIA', accountId: '111122223333', callerId: 'AIDA', cognitoIdentity: null, principalOrgId: 'o-1', userArn: CALLER, userId: 'AIDA' } },
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'test' },
      requestId: 'r-1',
      routeKey: `${method} ${routePath}`,
      stage: '$default',
      time: '15/Jan/2026:12:00:00 +0000',
      timeEpoch: NOW,
    },
    ...(options.body !== undefined ? { body: options.base64 ? Buffer.from(options.body).toString('base64') : options.body, isBase64Encoded: Boolean(options.base64) } : { isBase64Encoded: false }),
  };
}

class FakeDepths implements QueueDepths {
  readonly depths = new Map<string, QueueDepth>();
  async depth(url: string): Promise<QueueDepth> {
    return this.depths.get(url) ?? { visible: 0, inFlight: 0, total: 0 };
  }
}

const parse = (res: { body?: string }) => JSON.parse(res.body ?? 'null');

describe('admin function handler (API Gateway, IAM-authorized)', () => {
  let state: InMemoryStateStore;
  let audit: InMemoryAuditLog;
  let conflicts: InMemoryConflictStore;
  let publisher: FakePublisher;
  let depths: FakeDepths;
  let handler: ReturnType<typeof createAdminHttpHandler>;
  const onItems: Record<string, StoredState['delivered']> = {};
  const plan = planFlow(manualFlow);

  beforeEach(async () => {
    const step = fakeStepContext({ now: NOW });
    ({ state, audit, conflicts, publisher } = step);
    depths = new FakeDepths();
    state.seed({ flow: 'people', key: 'p1', version: 1, doc: clash.doc, view: clash.view, delivered: {}, updatedAt: 2000 });
    await conflicts.open([conflict], 2000);
    const resources = deployedFlowResources(plan, NAMES, SQS, TABLES, DLQS, PAYLOADS);
    handler = createAdminHttpHandler({
      admin: createAdminService({
        flows: [{ plan, resources }],
        baseUrl: () => API,
        stateStore: state,
        targetItems: { get: async (flow, key) => onItems[`${flow}/${key}`] ?? {} },
        audit,
        conflicts,
        quarantine: step.quarantine,
        publisher,
        depths,
        compileTransform,
        hashKey: async () => 'k',
        authenticatedCaller: true,
        clock: step.clock,
      }),
    });
  });

  it('describes the flow with the deployed names and ARNs of its resources, and no secret values', async () => {
    // Act
    const res = await handler(apiEvent('GET', '/flows/people'));

    // Assess
    expect(res.statusCode).toBe(200);
    const body = parse(res);
    expect(body.id).toBe('people');
    expect(body.config).toEqual(manualFlow);
    expect(body.resources.queues[0]).toEqual({
      id: 'transform',
      name: 'Stack-transformqueue-A',
      url: `${SQS.url}Stack-transformqueue-A`,
      arn: `${SQS.arn}Stack-transformqueue-A`,
      maxReceiveCount: 5,
      visibilityTimeoutSeconds: 180,
      dlq: { name: 'Stack-transformdlq-A', url: `${SQS.url}Stack-transformdlq-A`, arn: `${SQS.arn}Stack-transformdlq-A` },
    });
    expect(body.resources.queues.map((q: { id: string }) => q.id)).toEqual(['transform', 'resolve', 'deliver-replica']);
    expect(body.resources.functions).toContainEqual(expect.objectContaining({ id: 'capture-crm', name: 'Stack-capturecrm-1', step: 'capture', handler: 'webhook-capture', sourceId: 'crm' }));
    expect(body.resources.tables).toEqual({ ...TABLES, targets: { replica: 'Stack-replica-6' }, sources: {} });
    expect(body.resources.buckets).toEqual({ targets: { lake: 'stack-lakebucket-7' }, payloads: PAYLOADS });
    expect(body.resources.secrets.webhooks).toEqual([
      { sourceId: 'crm', name: 'webhooksecretcrm', arn: NAMES.webhookSecrets.crm },
      { sourceId: 'erp', name: 'webhooksecreterp', arn: NAMES.webhookSecrets.erp },
    ]);
    expect(body.webhooks).toEqual([
      { sourceId: 'crm', urls: [`${API}/webhooks/people/crm`] },
      { sourceId: 'erp', urls: [`${API}/webhooks/people/erp`] },
    ]);
  });

  it('serves a record and its lineage, a key with a "/" included', async () => {
    // Prepare
    const key = 'team/p1';
    const merged = mergeChanges(manualFlow, undefined, [{ v: 1, id: 'e1', flow: 'people', source: 'crm', key, op: 'upsert', data: { id: key, email: 'a@x.io' }, ts: 1000, seq: '1', lineage: [] }]);
    state.seed({ flow: 'people', key, version: 1, doc: merged.doc, view: merged.view, delivered: {}, updatedAt: 5 });
    await audit.write([{ flow: 'people', key, step: 'capture', at: 1000, source: 'crm', eventId: 'e1', outcome: 'captured' }]);

    // Act
    const record = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'records/team/p1' }));
    const lineage = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'records/team/p1/lineage' }));

    // Assess
    expect(record.statusCode).toBe(200);
    expect(parse(record)).toMatchObject({ flow: 'people', key, version: 1, record: { id: key, email: 'a@x.io' } });
    expect(parse(lineage)).toEqual([expect.objectContaining({ key, outcome: 'captured', eventId: 'e1' })]);
  });

  it("shows a DynamoDB target's delivery recorded on its item, in the record and its lineage", async () => {
    // Prepare
    const merged = mergeChanges(manualFlow, undefined, [{ v: 1, id: 'e2', flow: 'people', source: 'crm', key: 'p2', op: 'upsert', data: { id: 'p2' }, ts: 1000, seq: '1', lineage: [] }]);
    state.seed({ flow: 'people', key: 'p2', version: 2, doc: merged.doc, view: merged.view, delivered: { replica: { version: 1, hash: 'h1' } }, updatedAt: 5 });
    onItems['people/p2'] = { replica: { version: 2, hash: merged.view.hash, at: 3000, eventIds: ['e2'] } };

    // Act
    const record = parse(await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'records/p2' })));
    const lineage = parse(await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'records/p2/lineage' })));

    // Assess
    expect(record.delivered).toEqual({ replica: { version: 2, hash: merged.view.hash, at: 3000, eventIds: ['e2'] } });
    expect(lineage).toEqual([expect.objectContaining({ step: 'deliver', outcome: 'delivered', target: 'replica', version: 2, at: 3000, eventId: 'e2' })]);
  });

  it('shows a record with both sides of its open conflicts, and without their values once they would pass what an answer holds', async () => {
    // Prepare: p3's notes conflict holds two 2.2 MB values (an answer holds 6 MB).
    const big = mergeChanges(manualFlow, undefined, [
      { v: 1, id: 'e3', flow: 'people', source: 'crm', key: 'p3', op: 'upsert', data: { id: 'p3', notes: 'c'.repeat(2_200_000) }, ts: 1000, seq: '3', lineage: [] },
      { v: 1, id: 'e4', flow: 'people', source: 'erp', key: 'p3', op: 'upsert', data: { id: 'p3', notes: 'e'.repeat(2_200_000) }, ts: 1001, seq: '4', lineage: [] },
    ]);
    state.seed({ flow: 'people', key: 'p3', version: 1, doc: big.doc, view: big.view, delivered: {}, updatedAt: 5 });

    // Act
    const small = parse(await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'records/p1' })));
    const res = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'records/p3' }));

    // Assess
    expect(small.conflicts).toEqual([expect.objectContaining({ id: conflict.id, field: 'email', current: expect.objectContaining({ value: 'a@x.io' }), incoming: expect.objectContaining({ value: 'b@x.io' }) })]);
    expect(res.statusCode).toBe(200);
    expect(Buffer.byteLength(res.body ?? '')).toBeLessThan(6 * 1024 * 1024);
    const record = parse(res);
    expect(record.conflicts).toEqual([expect.objectContaining({ field: 'notes', omitted: expect.stringMatching(/^values left out/) })]);
    expect(record.conflicts[0].incoming.value).toBeUndefined();

    // Act: resolve it; its values come from the record.
    await conflicts.open(big.conflicts, 5);
    const resolved = await handler(apiEvent('POST', '/flows/people/{proxy+}', { proxy: `conflicts/${big.conflicts[0]!.id}/resolve`, body: JSON.stringify({ choose: 'incoming' }) }));

    // Assess: the answer shows the resolved conflict within what an answer holds; the change carries the value.
    expect(resolved.statusCode).toBe(202);
    expect(Buffer.byteLength(resolved.body ?? '')).toBeLessThan(6 * 1024 * 1024);
    expect(parse(resolved).conflict).toMatchObject({ status: 'resolved', omitted: expect.stringMatching(/^values left out/) });
    expect(publisher.bodies<{ key: string; data: Record<string, unknown> }>(`${SQS.url}Stack-resolvequeue-B`).find((c) => c.key === 'p3')?.data.notes).toBe('e'.repeat(2_200_000));
  });

  it('records the IAM caller as who resolved, whatever the body or headers claim', async () => {
    // Act
    const res = await handler(
      apiEvent('POST', '/flows/people/{proxy+}', { proxy: `conflicts/${conflict.id}/resolve`, body: JSON.stringify({ choose: 'incoming', by: 'mallory' }), headers: { 'x-syncline-user': 'bob' } }),
    );

    // Assess
    expect(res.statusCode).toBe(202);
    expect(parse(res).conflict).toMatchObject({ id: conflict.id, status: 'resolved', resolvedBy: `${CALLER} (as mallory)` });
    expect(publisher.bodies(`${SQS.url}Stack-resolvequeue-B`)).toEqual([expect.objectContaining({ key: 'p1', data: { email: 'b@x.io' } })]);
    expect(audit.entries).toEqual([expect.objectContaining({ eventId: parse(res).changeId, reason: expect.stringContaining(`by ${CALLER} (as mallory)`) })]);
  });

  it('lists conflicts by status and reads a base64 body', async () => {
    // Act
    const resolved = await handler(apiEvent('POST', '/flows/people/{proxy+}', { proxy: `conflicts/${conflict.id}/resolve`, body: '{"choose":"current"}', base64: true }));
    const open = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'conflicts' }));
    const all = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'conflicts', query: { status: 'resolved' } }));

    // Assess
    expect(resolved.statusCode).toBe(202);
    expect(parse(open)).toEqual([]);
    expect(parse(all)).toEqual([expect.objectContaining({ id: conflict.id, resolvedBy: CALLER })]);
  });

  it.each([
    ['an invalid resolve body', apiEvent('POST', '/flows/people/{proxy+}', { proxy: `conflicts/${conflict.id}/resolve`, body: '{"choose":"neither"}' }), 400, /invalid body/],
    ['a body that is not JSON', apiEvent('POST', '/flows/people/{proxy+}', { proxy: 'quarantine/replay', body: '{"all":' }), 400, /not valid JSON/],
    ['a bad replay body', apiEvent('POST', '/flows/people/{proxy+}', { proxy: 'quarantine/replay', body: '{"every":true}' }), 400, /unknown field/],
    ['a bad conflicts filter', apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'conflicts', query: { status: 'maybe' } }), 400, /status must be one of/],
    ['an unknown conflict', apiEvent('POST', '/flows/people/{proxy+}', { proxy: 'conflicts/nope/resolve', body: '{"choose":"current"}' }), 404, /conflict "nope"/],
    ['an unknown flow', apiEvent('GET', '/flows/other'), 404, /flow "other" not found/],
    ['an unknown flow status', apiEvent('GET', '/flows/other/{proxy+}', { proxy: 'status' }), 404, /unknown flow "other"/],
    ['an unknown path', apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'nothing/here' }), 404, /no route for GET \/flows\/people\/nothing\/here/],
    ['a local-only route', apiEvent('POST', '/flows/people/{proxy+}', { proxy: 'redrive' }), 404, /no route for POST/],
    ['a read of a write route', apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'quarantine/replay' }), 405, /^use POST on \/flows\/people\/quarantine\/replay$/],
    ['a write to a read route', apiEvent('POST', '/flows/people/{proxy+}', { proxy: 'records/p1', body: '{}' }), 405, /^use GET on \/flows\/people\/records\/p1$/],
  ])('answers %s with a 4xx status and a message', async (_what, event, status, message) => {
    // Act
    const res = await handler(event);

    // Assess
    expect(res.statusCode).toBe(status);
    // RFC 9110 §15.5.6: a 405 lists the methods the resource takes.
    const allow = status === 405 ? { allow: /^use (\w+)/.exec(parse(res).message)![1] } : {};
    expect(res.headers).toEqual({ 'content-type': 'application/json', ...allow });
    expect(parse(res).message).toMatch(message);
  });

  it('answers a key longer than any key syncline carries with 400 and its length, before asking DynamoDB', async () => {
    // Prepare
    let reads = 0;
    state.get = async () => {
      reads++;
      return undefined;
    };

    // Act
    const record = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: `records/${'k'.repeat(3000)}` }));
    const lineage = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: `records/${'k'.repeat(3000)}/lineage` }));

    // Assess
    for (const res of [record, lineage]) {
      expect(res.statusCode).toBe(400);
      expect(parse(res).message).toBe('key is 3000 bytes; the longest key flow "people" carries is 1017 bytes (1024 with the flow id and "#")');
    }
    expect(reads).toBe(0);
  });

  it('answers a key DynamoDB refuses with 400, not a failure', async () => {
    // Prepare
    state.get = async () => {
      throw Object.assign(new Error('One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes'), { name: 'ValidationException' });
    };

    // Act
    const res = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: `records/${'k'.repeat(1000)}` }));

    // Assess
    expect(res.statusCode).toBe(400);
    expect(parse(res).message).toBe('DynamoDB refused the request: ValidationException (partition key over 2048 bytes)');
  });

  it('reports queue and DLQ depths and lag from the source ts of the last hour', async () => {
    // Prepare
    depths.depths.set(`${SQS.url}Stack-deliverreplicadlq-C`, { visible: 2, inFlight: 1, total: 3 });
    await audit.write([
      { flow: 'people', key: 'p1', step: 'deliver', at: NOW - 1_000, source: '', eventId: 'e1', outcome: 'delivered', target: 'replica', detail: { eventIds: ['e1'], ts: NOW - 1_250 } },
      { flow: 'people', key: 'p2', step: 'deliver', at: NOW - 500, source: '', eventId: 'e2', outcome: 'delivered', target: 'replica', detail: { eventIds: ['e2'], ts: NOW - 4_500 } },
    ]);

    // Act
    const res = await handler(apiEvent('GET', '/flows/people/{proxy+}', { proxy: 'status' }));

    // Assess
    expect(res.statusCode).toBe(200);
    const body = parse(res);
    expect(body.queues).toContainEqual({ id: 'deliver-replica', name: 'Stack-deliverreplicaqueue-C', depth: { visible: 0, inFlight: 0, total: 0 }, dlq: { visible: 2, inFlight: 1, total: 3 } });
    expect(body.outcomes).toEqual({ delivered: 2 });
    expect(body.lag).toEqual({ latestMs: 4_000, p50Ms: 250, p99Ms: 4_000, maxMs: 4_000, samples: 2, from: 'source' });
  });
});

describe('flow list handler (GET /flows)', () => {
  it('lists the baked flows with their webhook URLs, and answers 405 to another method', async () => {
    // Prepare
    const handler = createFlowListHandler({ flows: () => [flowSummary(planFlow(manualFlow), API)] });

    // Act
    const list = await handler(apiEvent('GET', '/flows'));
    const other = await handler(apiEvent('POST', '/flows'));

    // Assess
    expect(parse(list)).toEqual([
      {
        id: 'people',
        sources: [
          { id: 'crm', type: 'webhook' },
          { id: 'erp', type: 'webhook' },
        ],
        targets: [{ id: 'replica', type: 'dynamodb' }],
        conflict: 'manual',
        webhooks: [
          { sourceId: 'crm', urls: [`${API}/webhooks/people/crm`] },
          { sourceId: 'erp', urls: [`${API}/webhooks/people/erp`] },
        ],
      },
    ]);
    expect(other.statusCode).toBe(405);
    expect(other.headers).toMatchObject({ allow: 'GET' });
  });
});

describe('the admin function environment (FLOW_RESOURCES)', () => {
  it('fails the cold start naming what is wrong', () => {
    expect(() => parseDeployedNames('{"queues":')).toThrow(/FLOW_RESOURCES is not valid JSON/);
    expect(() => parseDeployedNames('{"queues": {}}')).toThrow(/FLOW_RESOURCES must be a JSON object with queues, functions/);
    const missing = { ...NAMES, queues: { transform: NAMES.queues.transform! } };
    expect(() => deployedFlowResources(planFlow(manualFlow), missing, SQS, TABLES, DLQS, PAYLOADS)).toThrow(/no queue "resolve" of flow "people"/);
    expect(() => deployedFlowResources(planFlow(manualFlow), NAMES, SQS, TABLES, { ...DLQS, resolve: undefined }, PAYLOADS)).toThrow(/Stack-resolvequeue-B of flow "people" has no dead-letter queue/);
  });
});

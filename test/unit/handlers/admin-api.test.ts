import { describe, expect, it } from 'vitest';
import { parseJsonBody, pathSegments, routeAdmin, type AdminApi, type AdminRequest } from '../../../functions/handlers/admin-api';

/** An AdminApi that records each call and answers with what it was asked. */
function recordingAdmin(overrides: Partial<AdminApi> = {}): { admin: AdminApi; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const rec =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      return { status: 200, body: { name, args } };
    };
  const value =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      return { name, args };
    };
  const admin: AdminApi = {
    listFlows: value('listFlows'),
    getFlow: value('getFlow'),
    getRecord: value('getRecord'),
    lineage: value('lineage'),
    listConflicts: rec('listConflicts'),
    resolveConflict: rec('resolveConflict'),
    quarantine: value('quarantine'),
    replayQuarantine: rec('replayQuarantine'),
    status: rec('status'),
    ...overrides,
  };
  return { admin, calls };
}

function request(method: string, path: string, extra: Partial<AdminRequest> = {}): AdminRequest & { bodyReads: () => number } {
  let reads = 0;
  const body = extra.body ?? (async () => undefined);
  return {
    method,
    path: pathSegments(path),
    query: {},
    ...extra,
    body: async () => {
      reads++;
      return body();
    },
    bodyReads: () => reads,
  };
}

describe('routeAdmin', () => {
  it.each([
    ['GET', '/flows', ['listFlows']],
    ['GET', '/flows/orders', ['getFlow', 'orders']],
    ['GET', '/flows/orders/records/o%2F1', ['getRecord', 'orders', 'o/1']],
    ['GET', '/flows/orders/records/o-1/lineage', ['lineage', 'orders', 'o-1']],
    ['GET', '/flows/orders/quarantine', ['quarantine', 'orders', { limit: 100 }]],
    ['GET', '/flows/orders/status', ['status', 'orders']],
    ['GET', '/status', ['status', undefined]],
  ])('routes %s %s to its use case', async (method, path, call) => {
    // Prepare
    const { admin, calls } = recordingAdmin();

    // Act
    const answer = await routeAdmin(admin, request(method, path));

    // Assess
    expect(answer?.status).toBe(200);
    expect(calls).toEqual([call]);
  });

  it('passes the conflicts status filter, the resolve body and the caller through', async () => {
    // Prepare
    const { admin, calls } = recordingAdmin();

    // Act
    await routeAdmin(admin, request('GET', '/flows/people/conflicts', { query: { status: 'resolved', limit: '20', after: '1700000000000:c9' } }));
    await routeAdmin(admin, request('POST', '/flows/people/conflicts/c1/resolve', { body: async () => ({ choose: 'incoming' }), user: 'arn:aws:iam::1:user/alice' }));
    await routeAdmin(admin, request('POST', '/flows/people/quarantine/replay', { body: async () => ({ all: true }) }));

    // Assess
    expect(calls).toEqual([
      ['listConflicts', 'people', 'resolved', { limit: 20, after: { openedAt: 1_700_000_000_000, id: 'c9' } }],
      ['resolveConflict', 'people', 'c1', { choose: 'incoming' }, 'arn:aws:iam::1:user/alice'],
      ['replayQuarantine', 'people', { all: true }],
    ]);
  });

  it('answers 404 with a message for an unknown flow, record or lineage', async () => {
    // Prepare
    const none = async () => undefined;
    const { admin } = recordingAdmin({ getFlow: none, getRecord: none, lineage: none, quarantine: none });

    // Act
    const answers = await Promise.all(['/flows/nope', '/flows/nope/records/k', '/flows/nope/records/k/lineage', '/flows/nope/quarantine'].map((p) => routeAdmin(admin, request('GET', p))));

    // Assess
    for (const a of answers) expect(a).toEqual({ status: 404, body: { message: expect.stringMatching(/not found/) } });
  });

  it('answers 404 for a deleted record, with its tombstone', async () => {
    // Prepare
    const { admin } = recordingAdmin({ getRecord: async () => ({ key: 'k', version: 4, deleted: true }) });

    // Act
    const answer = await routeAdmin(admin, request('GET', '/flows/orders/records/k'));

    // Assess
    expect(answer).toEqual({ status: 404, body: { message: 'record "k" of flow "orders" was deleted', key: 'k', version: 4, deleted: true } });
  });

  it('leaves paths and methods it does not serve to the caller, without reading the body', async () => {
    // Prepare
    const { admin, calls } = recordingAdmin();
    const requests = [
      request('POST', '/flows/orders/redrive'),
      request('DELETE', '/flows/orders'),
      request('GET', '/flows/orders/records'),
      request('GET', '/local/endpoints'),
      request('POST', '/flows/orders/conflicts/c1'),
    ];

    // Act
    const answers = await Promise.all(requests.map((r) => routeAdmin(admin, r)));

    // Assess
    expect(answers).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(calls).toEqual([]);
    expect(requests.map((r) => r.bodyReads())).toEqual([0, 0, 0, 0, 0]);
  });

  it('answers a body that is not JSON with 400 and what is wrong', async () => {
    // Prepare
    const { admin, calls } = recordingAdmin();

    // Act
    const answer = await routeAdmin(admin, request('POST', '/flows/people/quarantine/replay', { body: async () => parseJsonBody('{"all": tru') }));

    // Assess
    expect(answer?.status).toBe(400);
    expect((answer?.body as { message: string }).message).toMatch(/^the body is not valid JSON/);
    expect(calls).toEqual([]);
  });

  it('refuses a path segment that is not valid percent-encoding', () => {
    expect(() => pathSegments('/flows/a/records/%E0%A4%A')).toThrow(/not valid percent-encoding/);
  });
});

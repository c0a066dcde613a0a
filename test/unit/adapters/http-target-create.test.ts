import { describe, expect, it } from 'vitest';
import { HttpTargetWriter } from '../../../functions/adapters/http-target-writer';
import { contentHash, eventId } from '../../../functions/core/envelope';
import type { CreateClaim, RemoteIdStore, TargetWrite } from '../../../functions/ports';
import { flowSchema } from '../../../functions/config/schema';

/** Remote ids in memory with the same claim rule as the DynamoDB store. */
class MemoryRemoteIds implements RemoteIdStore {
  readonly ids = new Map<string, string>();
  readonly forgotten = new Map<string, string>();
  readonly claims = new Map<string, { owner: string; until: number }>();
  async claimCreate(_f: string, _t: string, key: string, owner: string, now: number, until: number): Promise<CreateClaim> {
    const id = this.ids.get(key);
    if (id !== undefined) return { remoteId: id };
    const c = this.claims.get(key);
    if (c && c.until >= now && c.owner !== owner) return 'taken';
    this.claims.set(key, { owner, until });
    const forgotten = this.forgotten.get(key);
    return forgotten === undefined ? { claimed: true } : { claimed: true, forgotten };
  }
  async setRemoteId(_f: string, _t: string, key: string, remoteId: string | null, forgotten?: string) {
    this.claims.delete(key);
    if (remoteId !== null) this.ids.set(key, remoteId);
    else if (forgotten === undefined) this.ids.delete(key);
    else if (this.ids.get(key) === forgotten) {
      this.ids.delete(key);
      this.forgotten.set(key, forgotten);
    }
  }
}

type Call = { url: string; method: string; body?: string; headers: Record<string, string> };
/** A ticketing API: POST /tickets creates (201, id in the body and Location), PUT/DELETE /tickets/{id}, 404 for unknown ids. */
function ticketApi() {
  const calls: Call[] = [];
  const tickets = new Map<string, unknown>();
  let next = 100;
  const fn = (async (url: string, init: RequestInit) => {
    const headers = init.headers as Record<string, string>;
    calls.push({ url, method: String(init.method), ...(init.body ? { body: String(init.body) } : {}), headers });
    // Let concurrent deliveries overlap.
    await new Promise((r) => setTimeout(r, 5));
    const path = new URL(url).pathname;
    if (init.method === 'POST' && path === '/tickets') {
      const id = String(next++);
      tickets.set(id, JSON.parse(String(init.body)));
      return Response.json({ ticket: { id: Number(id) } }, { status: 201, headers: { location: `https://api.example.com/tickets/${id}` } });
    }
    const id = decodeURIComponent(path.split('/').pop()!);
    if (!tickets.has(id)) return new Response('{"error":"not found"}', { status: 404 });
    if (init.method === 'DELETE') tickets.delete(id);
    else tickets.set(id, JSON.parse(String(init.body)));
    return new Response('', { status: 200 });
  }) as unknown as typeof fetch;
  return { fn, calls, tickets };
}

const target = (create: Record<string, unknown> = {}) =>
  flowSchema.parse({
    id: 'desk',
    key: ['id'],
    sources: [{ id: 'crm', type: 'webhook' }],
    targets: [
      {
        id: 'tickets',
        type: 'http',
        url: 'https://api.example.com/tickets/{remoteId}',
        body: '{"subject": subject, "status": status}',
        create: { url: 'https://api.example.com/tickets', idPath: 'ticket.id', body: '{"subject": subject, "email": email}', ...create },
      },
    ],
  }).targets[0] as Extract<ReturnType<typeof flowSchema.parse>['targets'][number], { type: 'http' }>;

const change = (key: string, version: number, data: Record<string, unknown> | null, remoteId?: string): TargetWrite => ({
  flow: 'desk',
  key,
  targetId: 'tickets',
  version,
  ts: 0,
  view: { data, deleted: data === null, clocks: {}, hash: contentHash(data) },
  ...(remoteId ? { remoteId } : {}),
});

describe('http target create-then-update', () => {
  it('creates a key once with Idempotency-Key even when versions are delivered concurrently, then updates {remoteId}', async () => {
    // Prepare
    const api = ticketApi();
    const ids = new MemoryRemoteIds();
    const writer = () => new HttpTargetWriter({ flowId: 'desk', target: target(), remoteIds: ids, fetch: api.fn, retry: { maxAttempts: 1 } });

    // Act: two invocations deliver versions 1 and 2 of k1 at the same time
    const [a, b] = await Promise.all([writer().writeBatch([change('k1', 1, { subject: 'Printer', email: 'a@example.com', status: 'open' })]), writer().writeBatch([change('k1', 2, { subject: 'Printer!', email: 'a@example.com', status: 'open' })])]);
    const update = await writer().writeBatch([change('k1', 3, { subject: 'Printer', status: 'closed' }, ids.ids.get('k1'))]);

    // Assess
    const posts = api.calls.filter((c) => c.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.headers['idempotency-key']).toBe(eventId('desk', 'tickets', 'k1', 'create'));
    expect(JSON.parse(posts[0]!.body!)).toEqual({ subject: expect.stringMatching(/^Printer/), email: 'a@example.com' });
    expect([...a.values(), ...b.values()].map((r) => r.status).sort()).toEqual(['retry', 'written']);
    expect(ids.ids.get('k1')).toBe('100');
    expect(update.get('k1')).toEqual({ status: 'written' });
    expect(api.calls.at(-1)).toMatchObject({ method: 'PUT', url: 'https://api.example.com/tickets/100' });
    expect(api.tickets.get('100')).toEqual({ subject: 'Printer', status: 'closed' });
  });

  it('reads the id from the Location header with $location, recreates after a 404 and deletes through {remoteId}', async () => {
    // Prepare
    const api = ticketApi();
    const ids = new MemoryRemoteIds();
    const writer = new HttpTargetWriter({ flowId: 'desk', target: target({ idPath: '$location' }), remoteIds: ids, fetch: api.fn, retry: { maxAttempts: 1 } });
    await writer.writeBatch([change('k2', 1, { subject: 'VPN', email: 'b@example.com' })]);
    api.tickets.clear(); // someone deleted the ticket at the target

    // Act
    const again = await writer.writeBatch([change('k2', 2, { subject: 'VPN down', status: 'open' }, ids.ids.get('k2'))]);
    const deleted = await writer.writeBatch([change('k2', 3, null, ids.ids.get('k2'))]);
    const neverCreated = await writer.writeBatch([change('k3', 1, null)]);

    // Assess
    expect(again.get('k2')).toEqual({ status: 'written' });
    expect(api.calls.map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual(['POST /tickets', 'PUT /tickets/100', 'POST /tickets', 'DELETE /tickets/101']);
    // The second create is another request: an API that keeps Idempotency-Keys would answer it with the deleted ticket.
    const posts = api.calls.filter((c) => c.method === 'POST').map((c) => c.headers['idempotency-key']);
    expect(posts).toEqual([eventId('desk', 'tickets', 'k2', 'create'), eventId('desk', 'tickets', 'k2', 'create', '100')]);
    expect(deleted.get('k2')).toEqual({ status: 'written' });
    expect(neverCreated.get('k3')).toEqual({ status: 'written' });
    expect(api.tickets.size).toBe(0);
  });

  it('re-creates after a 404 with the key of that re-create on every retry: an API that keeps keys does not answer with the deleted record', async () => {
    // Prepare: an API that replays the first answer to a repeated Idempotency-Key (as Stripe does), and is busy once.
    const answers = new Map<string, Response>();
    const posts: string[] = [];
    let busy = false;
    let next = 1;
    const tickets = new Set<string>();
    const fn = (async (url: string, init: RequestInit) => {
      const headers = init.headers as Record<string, string>;
      const path = new URL(url).pathname;
      if (init.method === 'POST') {
        posts.push(headers['idempotency-key']!);
        if (busy) {
          busy = false;
          return new Response('{"error":"slow down"}', { status: 429, headers: { 'retry-after': '60' } });
        }
        const replayed = answers.get(headers['idempotency-key']!);
        if (replayed) return replayed.clone();
        const id = String(next++);
        tickets.add(id);
        const res = Response.json({ ticket: { id: Number(id) } }, { status: 201 });
        answers.set(headers['idempotency-key']!, res.clone());
        return res;
      }
      return tickets.has(decodeURIComponent(path.split('/').pop()!)) ? new Response('', { status: 200 }) : new Response('{}', { status: 404 });
    }) as unknown as typeof fetch;
    const ids = new MemoryRemoteIds();
    const writer = () => new HttpTargetWriter({ flowId: 'desk', target: target(), remoteIds: ids, fetch: fn, retry: { maxAttempts: 1 } });
    await writer().writeBatch([change('k9', 1, { subject: 'VPN' })]);
    tickets.clear(); // deleted at the target
    busy = true;

    // Act: the update finds it gone and the re-create is refused for now; a later receive (a new invocation) retries.
    const first = await writer().writeBatch([change('k9', 2, { subject: 'VPN down' }, ids.ids.get('k9'))]);
    const retried = await writer().writeBatch([change('k9', 3, { subject: 'VPN down' })]);

    // Assess: the retry carries the re-create's key, not the first create's, and makes a new ticket.
    expect(first.get('k9')).toMatchObject({ status: 'retry' });
    expect(retried.get('k9')).toEqual({ status: 'written' });
    expect(posts).toEqual([eventId('desk', 'tickets', 'k9', 'create'), eventId('desk', 'tickets', 'k9', 'create', '1'), eventId('desk', 'tickets', 'k9', 'create', '1')]);
    expect(ids.ids.get('k9')).toBe('2');
    expect([...tickets]).toEqual(['2']);
  });

  it('takes a 303 See Other to a create as created, with the id in its Location (Post/Redirect/Get), and follows no redirect', async () => {
    // Prepare: an API that answers a created ticket with 303 and the ticket's URL (RFC 9110 15.4.4).
    const calls: string[] = [];
    const fn = (async (url: string, init: RequestInit) => {
      calls.push(`${String(init.method)} ${new URL(url).pathname}`);
      if (init.method === 'POST') return new Response(null, { status: 303, headers: { location: '/tickets/777' } });
      return new Response('', { status: 200 });
    }) as unknown as typeof fetch;
    const ids = new MemoryRemoteIds();
    const byLocation = new HttpTargetWriter({ flowId: 'desk', target: target({ idPath: '$location' }), remoteIds: ids, fetch: fn, retry: { maxAttempts: 1 } });
    const byBody = new HttpTargetWriter({ flowId: 'desk', target: target({ idPath: 'ticket.id' }), remoteIds: new MemoryRemoteIds(), fetch: fn, retry: { maxAttempts: 1 } });

    // Act
    const created = await byLocation.writeBatch([change('k5', 1, { subject: 'VPN' })]);
    const other = await byBody.writeBatch([change('k6', 1, { subject: 'VPN' })]);

    // Assess: with $location it is created as 777; with an id in the body, a 303 tells nothing and is refused.
    expect(created.get('k5')).toEqual({ status: 'written' });
    expect(ids.ids.get('k5')).toBe('777');
    expect(other.get('k6')).toMatchObject({ status: 'rejected', reason: 'POST answered 303' });
    expect(calls).toEqual(['POST /tickets', 'POST /tickets']);
  });

  it('sends a create once when it may have been acted on (a timeout, a 500), and holds the claim so no delivery creates it again meanwhile', async () => {
    // Prepare: Jira ignores Idempotency-Key, so a create retried after a lost answer is a second issue.
    for (const failure of ['timeout', '500'] as const) {
      const posts: string[] = [];
      const fn = (async (_url: string, init: RequestInit) => {
        posts.push(String(init.method));
        if (failure === 'timeout') throw Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
        return new Response('{"error":"internal"}', { status: 500 });
      }) as unknown as typeof fetch;
      const ids = new MemoryRemoteIds();
      const writer = new HttpTargetWriter({ flowId: 'desk', target: target(), remoteIds: ids, fetch: fn, retry: { maxAttempts: 3, baseDelayMs: 1 } });

      // Act
      const first = await writer.writeBatch([change('k7', 1, { subject: 'VPN' })]);
      const meanwhile = await writer.writeBatch([change('k7', 2, { subject: 'VPN' })]);

      // Assess
      expect(first.get('k7'), failure).toMatchObject({ status: 'retry', reason: expect.stringMatching(/may have created the record: retried once the create claim expires/) });
      expect(meanwhile.get('k7'), failure).toEqual({ status: 'retry', reason: 'another delivery is creating k7 at "tickets"', untried: true });
      expect(posts, failure).toEqual(['POST']);
    }
  });

  it('lets the claim go when the API refused a create without acting on it, so the next delivery creates at once', async () => {
    // Prepare: 429 with a minute to wait, more than a delivery waits for; then 201.
    const calls: string[] = [];
    const answers = [new Response('{"error":"rate"}', { status: 429, headers: { 'retry-after': '60' } })];
    const fn = (async (_url: string, init: RequestInit) => {
      calls.push(String(init.method));
      return answers.shift() ?? Response.json({ ticket: { id: 6 } }, { status: 201 });
    }) as unknown as typeof fetch;
    const ids = new MemoryRemoteIds();
    const writer = new HttpTargetWriter({ flowId: 'desk', target: target(), remoteIds: ids, fetch: fn, retry: { maxAttempts: 3, baseDelayMs: 1 } });

    // Act
    const refused = await writer.writeBatch([change('k10', 1, { subject: 'VPN' })]);
    const next = await writer.writeBatch([change('k10', 2, { subject: 'VPN' })]);

    // Assess
    expect(refused.get('k10')).toMatchObject({ status: 'retry', reason: expect.stringContaining('retry after 60s') });
    expect(next.get('k10')).toEqual({ status: 'written' });
    expect(calls).toEqual(['POST', 'POST']);
  });

  it('retries a create the API did not act on (429, no connection), and lets the next delivery create at once after a refusal', async () => {
    // Prepare: 429 then 201; a refused connection then 201; a 422 for a body the API refuses, then 201.
    const script = (answers: (number | 'refused')[]) => {
      const calls: string[] = [];
      const fn = (async (_url: string, init: RequestInit) => {
        calls.push(String(init.method));
        const next = answers.shift() ?? 201;
        if (next === 'refused') throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
        return next === 201 ? Response.json({ ticket: { id: 5 } }, { status: 201 }) : new Response('{"error":"x"}', { status: next });
      }) as unknown as typeof fetch;
      const ids = new MemoryRemoteIds();
      return { calls, ids, writer: new HttpTargetWriter({ flowId: 'desk', target: target(), remoteIds: ids, fetch: fn, retry: { maxAttempts: 3, baseDelayMs: 1 } }) };
    };
    const limited = script([429]);
    const refused = script(['refused']);
    const invalid = script([422]);

    // Act
    const afterLimit = await limited.writer.writeBatch([change('k8', 1, { subject: 'VPN' })]);
    const afterRefusal = await refused.writer.writeBatch([change('k8', 1, { subject: 'VPN' })]);
    const rejected = await invalid.writer.writeBatch([change('k8', 1, { subject: 'VPN' })]);
    const fixed = await invalid.writer.writeBatch([change('k8', 2, { subject: 'VPN' })]);

    // Assess
    expect([afterLimit.get('k8'), afterRefusal.get('k8')]).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect([limited.calls, refused.calls]).toEqual([['POST', 'POST'], ['POST', 'POST']]);
    expect(rejected.get('k8')).toMatchObject({ status: 'rejected', reason: 'POST answered 422' });
    expect(fixed.get('k8')).toEqual({ status: 'written' });
    expect(invalid.ids.ids.get('k8')).toBe('5');
  });

  it('refuses a url without {remoteId} when create is set, naming the path', () => {
    const result = flowSchema.safeParse({ id: 'd', key: ['id'], sources: [{ id: 's', type: 'webhook' }], targets: [{ id: 't', type: 'http', url: 'https://x.example/{key}', create: { url: 'https://x.example/', idPath: 'id' } }] });
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['targets.0.url', 'with create, url must hold {remoteId}: updates and deletes go to the created record']]);
  });
});

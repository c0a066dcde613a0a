import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type LocalAdminApi, type LocalHttpServer } from '../../../lib/local/http-server';
import { parseJsonExact } from '../../../functions/core/json-safety';

/** An admin API that records the quarantine replays it was asked for. */
function fakeAdmin(replays: unknown[]): LocalAdminApi {
  return {
    endpoints: () => ({}),
    getFlow: async (id) => (id === 'f' ? { id } : undefined),
    getRecord: async (_flow, key) => (key === 'a/../b' || key === 'x' ? { key } : undefined),
    lineage: async () => undefined,
    listConflicts: async () => ({ status: 200, body: [] }),
    resolveConflict: async () => ({ status: 200, body: {} }),
    quarantine: async () => [],
    replayQuarantine: async (_flow, body) => {
      replays.push(body);
      return { status: 200, body: { replayed: 0 } };
    },
    status: async () => ({ status: 200, body: {} }),
  };
}

/** A raw request, so Host and Origin can be anything a browser or a rebinding DNS name would send. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; json: any; allow?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined, ...(res.headers.allow !== undefined ? { allow: res.headers.allow } : {}) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the local admin API refuses what a web page could send', () => {
  let server: LocalHttpServer;
  const replays: unknown[] = [];
  const webhookBodies: (string | undefined)[] = [];
  const replay = '/flows/f/quarantine/replay';

  beforeAll(async () => {
    server = await startHttpServer({
      port: 0,
      admin: fakeAdmin(replays),
      routes: [
        {
          method: 'POST',
          path: '/webhooks/f/form',
          functionName: 'f-capture',
          maxBodyBytes: 10_000,
          handler: async (event) => {
            webhookBodies.push(event.body);
            return { statusCode: 202, body: '{"accepted":1}' };
          },
        },
      ],
      log: () => {},
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('answers the CLI (loopback Host, JSON, no Origin) under each loopback name', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const res = await send(server.port, 'POST', replay, { host: `${host}:${server.port}`, 'content-type': 'application/json' }, '{"all":true}');
      expect(res.status, host).toBe(200);
    }
    expect((await send(server.port, 'GET', '/flows/f', { host: `localhost:${server.port}` })).json).toEqual({ id: 'f' });
    // A Host without a port still names this machine (a rebinding attack changes the name, not the port).
    expect((await send(server.port, 'GET', '/flows/f', { host: 'localhost' })).status).toBe(200);
  });

  it('refuses a Host that is not a loopback name with its port (DNS rebinding) with 403', async () => {
    for (const host of [`evil.example:${server.port}`, `127.0.0.1.evil.example:${server.port}`, `127.0.0.1:${server.port + 1}`, 'evil.example']) {
      const res = await send(server.port, 'GET', '/flows/f', { host });
      expect(res.status, host).toBe(403);
      expect(res.json.message).toMatch(/is not this server/);
    }
  });

  it('refuses a request with two Host headers, the first a loopback name, with 400', async () => {
    // A raw request: an HTTP client library sends one Host.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.end(`GET /flows/f HTTP/1.1\r\nHost: localhost:${server.port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`));
      let text = '';
      socket.on('data', (d) => (text += String(d)));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('more than one Host header');
  });

  it('refuses a cross-origin write with 403 and a text/plain or form write with 415, and does nothing', async () => {
    const before = replays.length;
    const host = `127.0.0.1:${server.port}`;
    const crossOrigin = await send(server.port, 'POST', replay, { host, origin: 'https://evil.example', 'content-type': 'application/json' }, '{"all":true}');
    expect(crossOrigin.status).toBe(403);
    expect(crossOrigin.json.message).toMatch(/cross-origin request refused: Origin "https:\/\/evil.example"/);
    const nullOrigin = await send(server.port, 'POST', replay, { host, origin: 'null', 'content-type': 'application/json' }, '{"all":true}');
    expect(nullOrigin.status).toBe(403);
    // A page served by another local server (port 80, or any other port) is another origin.
    for (const origin of ['http://localhost', 'http://127.0.0.1', `http://localhost:${server.port + 1}`]) {
      expect((await send(server.port, 'POST', replay, { host, origin, 'content-type': 'application/json' }, '{"all":true}')).status, origin).toBe(403);
    }
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain; charset=json', 'application/x-www-form-urlencoded; a=json']) {
      const res = await send(server.port, 'POST', replay, { host, 'content-type': type }, '{"all":true}');
      expect(res.status, type).toBe(415);
      expect(res.json.message).toMatch(/takes a JSON body/);
    }
    const untyped = await send(server.port, 'POST', replay, { host }, '{"all":true}');
    expect(untyped.status).toBe(415);
    expect(replays.length).toBe(before);
    // Its own origin is fine.
    const own = await send(server.port, 'POST', replay, { host, origin: `http://127.0.0.1:${server.port}`, 'content-type': 'application/json; charset=utf-8' }, '{"all":true}');
    expect(own.status).toBe(200);
  });

  it('answers a wrong method with 405 and the Allow header, and a path with a segment too many with 404, each naming the route to use', async () => {
    const host = `127.0.0.1:${server.port}`;
    for (const path of ['/flows/f/sources/s/pull', '/flows/f/sources/s/backfill', '/flows/f/redrive']) {
      expect(await send(server.port, 'GET', path, { host }), path).toEqual({ status: 405, json: { message: `use POST on ${path}` }, allow: 'POST' });
    }
    const json = { host, 'content-type': 'application/json' };
    expect(await send(server.port, 'DELETE', '/local/events', json)).toEqual({ status: 405, json: { message: 'use GET or POST on /local/events' }, allow: 'GET, POST' });
    expect(await send(server.port, 'PUT', '/local/endpoints', json, '{}')).toEqual({ status: 405, json: { message: 'use GET on /local/endpoints' }, allow: 'GET' });
    expect(await send(server.port, 'GET', '/flows/f/quarantine/replay', { host })).toEqual({ status: 405, json: { message: 'use POST on /flows/f/quarantine/replay' }, allow: 'POST' });
    expect(await send(server.port, 'GET', '/webhooks/f/form', { host })).toEqual({ status: 405, json: { message: 'use POST on /webhooks/f/form' }, allow: 'POST' });
    expect(await send(server.port, 'POST', '/webhooks/f/form/extra', { host, 'content-type': 'application/json' }, '{}')).toEqual({
      status: 404,
      json: { message: 'no webhook route /webhooks/f/form/extra: POST /webhooks/<flowId>/<sourceId>' },
    });
    expect(webhookBodies).not.toContain('{}');
  });

  it('leaves webhooks to their senders: form bodies, any Host and Origin reach the capture function', async () => {
    const res = await send(server.port, 'POST', '/webhooks/f/form', { host: 'abc.tunnel.example', origin: 'https://sender.example', 'content-type': 'application/x-www-form-urlencoded' }, 'payload=%7B%7D');
    expect(res.status).toBe(202);
    expect(webhookBodies.at(-1)).toBe('payload=%7B%7D');
  });
});

describe('the local admin API reads the path as sent', () => {
  let server: LocalHttpServer;
  beforeAll(async () => {
    server = await startHttpServer({ port: 0, admin: fakeAdmin([]), routes: [], log: () => {} });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('does not resolve dot segments: an encoded key is the key, and `..` never names another resource', async () => {
    const get = (path: string) => send(server.port, 'GET', path, { host: `127.0.0.1:${server.port}` });
    // Before, `%2E%2E` was resolved as `..` and the flow's config came back as if it were the record.
    expect(await get('/flows/f/records/%2E%2E')).toEqual({ status: 400, json: { message: 'key ".." cannot be named in a URL path' } });
    expect(await get('/flows/f/records/x/%2E%2E/%2E%2E')).toMatchObject({ status: 404 });
    expect(await get('/flows/f/records/a%2F..%2Fb')).toEqual({ status: 200, json: { key: 'a/../b' } });
    expect(await get('/flows/f/records/%ED%A0%80')).toMatchObject({ status: 400 });
  });
});

describe('the local admin API writes numbers as they were read', () => {
  let server: LocalHttpServer;
  beforeAll(async () => {
    const detail = parseJsonExact('{"id":12345678901234567890,"n":1e400,"small":1.5}');
    const admin: LocalAdminApi = { ...fakeAdmin([]), listEvents: () => [{ busName: 'default', event: { detail }, routedTo: [] }] };
    server = await startHttpServer({ port: 0, admin, routes: [], log: () => {} });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('lists an event whose Detail holds a number beyond 2^53 with its digits, not rounded or as an object', async () => {
    // Act
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, method: 'GET', path: '/local/events', headers: { host: `127.0.0.1:${server.port}` } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += String(d)));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });

    // Assess
    expect(text).toBe('[{"busName":"default","event":{"detail":{"id":12345678901234567890,"n":1e400,"small":1.5}},"routedTo":[]}]');
  });
});

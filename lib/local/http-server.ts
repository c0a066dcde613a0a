import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import {
  AdminHttpError,
  MAX_ADMIN_BODY,
  methodNotAllowed,
  noRoute,
  parseJsonBody,
  pathSegments,
  routeAdmin,
  type AdminAnswer,
  type AdminApi,
  type AdminRequest,
} from '../../functions/handlers/admin-api';
import { refuseAdminRequest } from './request-guard';
import { lambdaContext } from './sqs-poller';
import { SynclineError } from '../../functions/core/errors';
import { safeErrorText } from '../../functions/core/error-text';
import { stringifyExact } from '../../functions/core/json-safety';

/** What an HTTP-API-triggered function exports. */
export type HttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;

/** One API Gateway route served by a function. */
export interface HttpRoute {
  readonly method: 'POST';
  /** Literal path, as the plan gives it: `/webhooks/<flow>/<source>`. */
  readonly path: string;
  readonly functionName: string;
  /** Bodies larger than this are answered 413 without being read in full. */
  readonly maxBodyBytes: number;
  readonly handler: HttpHandler;
}

/**
 * The admin API of the local runtime: the shared admin use cases, plus routes that exist only locally
 * (`/local/*`, and pull, backfill and redrive, which the CLI does with the AWS SDK against a deployed stack).
 */
export interface LocalAdminApi extends AdminApi {
  /** `GET /local/endpoints`. */
  endpoints(): unknown;
  /** `POST /flows/{flowId}/sources/{sourceId}/pull`: runs a schedule source now; the body (optional) may hold `acceptDeletes`, `restart`. */
  pull?(flowId: string, sourceId: string, body: unknown): Promise<AdminAnswer>;
  /**
   * `POST /flows/{flowId}/sources/{sourceId}/backfill`: re-captures a dynamodb-stream source's table; in full without a
   * body, or one chunk for a body `{"segment", "totalSegments", "cursor"?, "maxItems"?}`.
   */
  backfill?(flowId: string, sourceId: string, body: unknown): Promise<AdminAnswer>;
  /** `POST /flows/{flowId}/redrive`: moves DLQ messages back to their queues; the body may name one `step` (queue id) and a `max`. */
  redrive?(flowId: string, body: unknown): Promise<AdminAnswer>;
  /** `POST /local/events`: a PutEvents-shaped body, routed to the eventbridge sources. */
  putEvents?(body: unknown): Promise<AdminAnswer>;
  /** `GET /local/events[?busName=]`: events put on the local buses, newest last. */
  listEvents?(busName: string | undefined): unknown;
}

export interface HttpServerOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly routes: readonly HttpRoute[];
  readonly admin: LocalAdminApi;
  readonly log?: (line: string) => void;
}

export interface LocalHttpServer {
  readonly url: string;
  readonly port: number;
  /** Requests being handled right now. */
  readonly inFlight: number;
  stop(): Promise<void>;
}

/** A startup problem to print as one line. */
export class PortInUseError extends SynclineError {
  constructor(readonly port: number) {
    super(`port ${port} is in use; pass --port or PORT`);
    this.name = 'PortInUseError';
  }
}

/** Fails fast with PortInUseError when the port is taken (checked before the slower local servers start). */
export async function assertPortFree(port: number, host = '127.0.0.1'): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

class HttpError extends SynclineError {
  override readonly name = 'HttpError';
  constructor(readonly status: number, message: string, readonly headers: Readonly<Record<string, string>> = {}) {
    super(message);
  }
}

/** Writes a JSON answer; a number read exactly (an event's Detail, a record tried) keeps its digits. */
function sendJson(res: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = stringifyExact(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extraHeaders });
  res.end(text);
}

/** Reads the body, refusing (413) as soon as it grows past `limit`, so a huge body is never buffered. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        req.removeListener('data', onData);
        req.resume();
        reject(new HttpError(413, `body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.once('error', (err) => {
      if (!done) reject(err);
    });
  });
}

const TEXT_TYPES = /^(text\/|application\/(json|[\w.+-]*\+json|xml|[\w.+-]*\+xml|x-www-form-urlencoded|javascript|x-ndjson|jsonl?)\b)/i;

/**
 * API Gateway passes text bodies as strings and anything else base64-encoded. Bytes that are not UTF-8 go base64
 * whatever the content type says, so the handler sees them as they were sent (a string would replace them).
 */
function encodeBody(body: Buffer, contentType: string | undefined): { body?: string; isBase64Encoded: boolean } {
  if (body.length === 0) return { isBase64Encoded: false };
  const textual = (contentType ? TEXT_TYPES.test(contentType) : true) && isUtf8(body);
  return textual ? { body: body.toString('utf8'), isBase64Encoded: false } : { body: body.toString('base64'), isBase64Encoded: true };
}

function apiGatewayTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** An HTTP API (payload format 2.0) event for a request, as API Gateway builds it. */
export function toApiGatewayEvent(req: IncomingMessage, url: URL, route: HttpRoute, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    if (name === 'cookie') {
      (cookies ??= []).push(...value.split(/;\s*/).filter(Boolean));
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = new Date();
  const routeKey = `${route.method} ${route.path}`;
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: (headers.host ?? '127').split('.')[0]!,
      http: {
        method: req.method ?? 'POST',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...encodeBody(body, headers['content-type']),
  };
}

/** Writes a function's result the way API Gateway maps it (a bare value is a 200 JSON body). */
function sendResult(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  if (typeof result === 'string' || typeof result !== 'object' || result === null || !('statusCode' in result)) {
    sendJson(res, 200, result ?? null);
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k.toLowerCase()] = String(v);
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  if (!headers['content-type'] && body.length) headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(body);
}

/** The routes only the local runtime has; undefined when the request is none of them. */
async function localRoute(admin: LocalAdminApi, req: AdminRequest): Promise<AdminAnswer | undefined> {
  const parts = req.path;
  const [a, flowId, b, sourceId, action] = parts;
  if (req.method === 'GET' && a === 'local' && parts.length === 2) {
    if (flowId === 'endpoints') return { status: 200, body: admin.endpoints() };
    if (flowId === 'events' && admin.listEvents) return { status: 200, body: admin.listEvents(req.query.busName) };
  }
  if (a === 'local' && parts.length === 2 && req.method !== 'GET' && !(flowId === 'events' && req.method === 'POST')) {
    if (flowId === 'endpoints') return methodNotAllowed(['GET'], '/local/endpoints');
    if (flowId === 'events') return methodNotAllowed(['GET', 'POST'], '/local/events');
  }
  if (req.method !== 'POST') {
    const postOnly = (a === 'flows' && b === 'redrive' && parts.length === 3) || (a === 'flows' && b === 'sources' && parts.length === 5 && (action === 'pull' || action === 'backfill'));
    return postOnly ? methodNotAllowed(['POST'], `/${parts.join('/')}`) : undefined;
  }
  if (a === 'local' && flowId === 'events' && parts.length === 2 && admin.putEvents) return admin.putEvents(await req.body());
  if (a === 'flows' && b === 'redrive' && parts.length === 3 && admin.redrive) return admin.redrive(flowId!, await req.body());
  if (a === 'flows' && b === 'sources' && parts.length === 5) {
    if (action === 'pull' && admin.pull) return admin.pull(flowId!, sourceId!, await req.body());
    if (action === 'backfill' && admin.backfill) return admin.backfill(flowId!, sourceId!, await req.body());
  }
  return undefined;
}

/**
 * The request's path as sent, not as `new URL` resolves it: a URL resolves `.` and `..` segments, `%2E%2E` too, so
 * `/flows/f/records/%2E%2E` would have been `/flows/f` and answered with another resource. Bytes outside printable
 * ASCII (Node reads the request line as Latin-1) are percent-encoded, as a client should have sent them.
 */
export function rawPathOf(requestUrl: string): string {
  const raw = requestUrl.split('?')[0]!;
  const path = raw.startsWith('/') ? raw : `/${raw}`;
  return /[^\x21-\x7e]/.test(path) ? [...Buffer.from(path, 'latin1')].map((b) => (b > 0x20 && b < 0x7f ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('') : path;
}

/** An admin request of the local server: decoded segments, first value of each query parameter, a lazily read body. */
function adminRequest(req: IncomingMessage, url: URL, path: string): AdminRequest {
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] ??= v;
  const user = req.headers['x-syncline-user'];
  return {
    method: req.method ?? 'GET',
    path: pathSegments(path),
    query,
    body: async () => parseJsonBody((await readBody(req, MAX_ADMIN_BODY)).toString('utf8')),
    ...(user !== undefined ? { user: Array.isArray(user) ? user[0] : user } : {}),
  };
}

/** The local stand-in for API Gateway: webhook routes to capture functions, plus the admin API. */
export async function startHttpServer(options: HttpServerOptions): Promise<LocalHttpServer> {
  const routes = new Map(options.routes.map((r) => [r.path, r]));
  const log = options.log ?? ((l: string) => console.error(l));
  let inFlight = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Resolved against the origin as a path, so `//host`-looking paths stay paths; an unparseable one is a 400.
    let url: URL;
    try {
      url = new URL(`http://127.0.0.1${(req.url ?? '/').startsWith('/') ? '' : '/'}${req.url ?? ''}`);
    } catch {
      sendJson(res, 400, { message: 'request path is not a valid URL path' });
      return;
    }
    const method = req.method ?? 'GET';
    const path = rawPathOf(req.url ?? '/').replace(/\/+$/, '') || '/';
    if (path === '/webhooks' || path.startsWith('/webhooks/')) {
      // Ids are matched decoded (`/webhooks/crm%2Dcontacts` is `/webhooks/crm-contacts`), as the function reads them;
      // an encoded `/` stays inside its segment, as API Gateway keeps it, so it names no route.
      const decoded = pathSegments(path);
      const route = routes.get(path) ?? (decoded.some((s) => s.includes('/')) ? undefined : routes.get(`/${decoded.join('/')}`));
      if (!route) {
        const [, flowId, sourceId, ...extra] = pathSegments(path);
        if (extra.length) throw new HttpError(404, `no webhook route ${path}: POST /webhooks/<flowId>/<sourceId>`);
        if (!flowId) throw new HttpError(404, 'missing flow id: POST /webhooks/<flowId>/<sourceId>');
        // The flow's webhook sources, as their routes name them, to say which part of the path is wrong.
        const sources = [...routes.keys()].filter((p) => p.startsWith(`/webhooks/${flowId}/`)).map((p) => p.slice(`/webhooks/${flowId}/`.length));
        if (sources.length === 0) throw new HttpError(404, `unknown flow "${flowId}", or it has no webhook source`);
        throw new HttpError(
          404,
          sourceId
            ? `flow "${flowId}" has no webhook source "${sourceId}" (webhook sources: ${sources.join(', ')})`
            : `flow "${flowId}" has more than one webhook source: use /webhooks/${flowId}/<sourceId> (webhook sources: ${sources.join(', ')})`,
        );
      }
      if (method !== route.method) throw new HttpError(405, `use ${route.method} on ${route.path}`, { allow: route.method });
      const body = await readBody(req, route.maxBodyBytes);
      const event = toApiGatewayEvent(req, url, route, body);
      let result: APIGatewayProxyResultV2;
      try {
        result = await route.handler(event, lambdaContext(route.functionName, 29));
      } catch (err) {
        // What API Gateway answers when the function fails.
        log(`[${route.functionName}] failed: ${(err as Error).stack ?? err}`);
        sendJson(res, 500, { message: 'Internal Server Error' });
        return;
      }
      sendResult(res, result);
      return;
    }
    const refusal = refuseAdminRequest(method, req.headers, (server.address() as { port: number }).port, req.rawHeaders);
    if (refusal) {
      req.resume();
      sendJson(res, refusal.status, { message: refusal.message });
      return;
    }
    const request = adminRequest(req, url, path);
    const { status, body, headers } = (await localRoute(options.admin, request)) ?? (await routeAdmin(options.admin, request)) ?? noRoute(method, request.path);
    sendJson(res, status, body, headers);
  };

  const server: Server = createServer((req, res) => {
    inFlight++;
    res.once('close', () => inFlight--);
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError || err instanceof AdminHttpError) {
        // After a 413 the rest of the body is not read: close the connection once the answer is out.
        sendJson(res, err.status, { message: err.message }, { ...(err instanceof HttpError ? err.headers : {}), ...(err.status === 413 ? { connection: 'close' } : {}) });
        return;
      }
      if ((err as { name?: string })?.name === 'ValidationException') {
        // DynamoDB refused the input (e.g. a key over its size limit): the caller's input, not a server fault.
        sendJson(res, 400, { message: `DynamoDB refused the request: ${safeErrorText(err)}` });
        return;
      }
      // The query may carry a webhook token: log the path only.
      log(`[http] ${req.method} ${(req.url ?? '').split('?')[0]} failed: ${(err as Error).stack ?? err}`);
      sendJson(res, 500, { message: 'Internal Server Error' });
    });
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(options.port) : err));
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get inFlight() {
      return inFlight;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

import { jsonErrorText } from '../core/error-text';
import { SynclineError } from '../core/errors';
import { keyProblem } from '../core/envelope';
import { jsonDepth, MAX_BODY_DEPTH, parseJsonExact } from '../core/json-safety';
import type { ConflictPage, QuarantineCursor } from '../ports';
/** An admin answer: HTTP status, JSON body and any headers beyond the content type. */
export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** 405, with the `Allow` header that RFC 9110 §15.5.6 requires. */
export function methodNotAllowed(allowed: readonly string[], path: string): AdminAnswer {
  return { status: 405, body: { message: `use ${allowed.join(' or ')} on ${path}` }, headers: { allow: allowed.join(', ') } };
}

/**
 * The admin use cases served alike by the local runtime and by the admin functions behind API Gateway
 * (DESIGN.md §2 "Admin"). Methods answering `unknown | undefined` give the JSON body, or undefined for 404.
 */
export interface AdminApi {
  /** `GET /flows`. */
  listFlows?(): Promise<unknown>;
  /** `GET /flows/{flowId}`: the flow's config and the names or ARNs of its resources. */
  getFlow(flowId: string): Promise<unknown | undefined>;
  /** `GET /flows/{flowId}/records/{key}`. */
  getRecord(flowId: string, key: string): Promise<unknown | undefined>;
  /** `GET /flows/{flowId}/records/{key}/lineage`: audit entries, oldest first. */
  lineage(flowId: string, key: string): Promise<unknown | undefined>;
  /** `GET /flows/{flowId}/conflicts[?status=open|resolved|superseded|all][&limit=N][&after=<openedAt>:<id>]` (open by default), oldest first. */
  listConflicts(flowId: string, status: string | undefined, page: ConflictPage): Promise<AdminAnswer>;
  /** `POST /flows/{flowId}/conflicts/{conflictId}/resolve`: the body, and who asked. */
  resolveConflict(flowId: string, conflictId: string, body: unknown, user: string | undefined): Promise<AdminAnswer>;
  /** `GET /flows/{flowId}/quarantine[?limit=N][&before=<at>:<id>]`: a page of items, newest first. */
  quarantine(flowId: string, page: QuarantineListing): Promise<unknown | undefined>;
  /** `POST /flows/{flowId}/quarantine/replay`: `{"ids": [...]}` or `{"all": true}`. */
  replayQuarantine(flowId: string, body: unknown): Promise<AdminAnswer>;
  /** `POST /flows/{flowId}/try`: a dry run of one record through transform and resolve; writes nothing. */
  tryRecord?(flowId: string, body: unknown): Promise<AdminAnswer>;
  /** `POST /flows/{flowId}/replay`: delivers the current state of chosen keys again; who asked is recorded. */
  replay?(flowId: string, body: unknown, user: string | undefined): Promise<AdminAnswer>;
  /** `GET /flows/{flowId}/status` (one flow) or `GET /status` (every flow): queue and DLQ depths, last hour's outcomes, lag. */
  status(flowId: string | undefined): Promise<AdminAnswer>;
}

/** A page of a quarantine listing: at most `limit` items, older than the item `before` names. */
export interface QuarantineListing {
  readonly limit: number;
  readonly before?: QuarantineCursor;
}

/** Items per listing page (quarantine, conflicts): by default, and at most. */
export const LISTING_PAGE = { default: 100, max: 1000 } as const;

/** `?limit=` and a cursor `<time>:<id>` (the time and id of the last item of the page before) of a listing. */
function listingPage(query: AdminRequest['query'], cursor: 'before' | 'after'): { limit: number; from?: { at: number; id: string } } {
  const { limit } = query;
  const from = query[cursor];
  const n = limit === undefined ? LISTING_PAGE.default : /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
  if (!(n >= 1 && n <= LISTING_PAGE.max)) throw new AdminHttpError(400, `limit must be a whole number from 1 to ${LISTING_PAGE.max}, got "${limit}"`);
  if (from === undefined) return { limit: n };
  const m = /^(\d{1,16}):(.+)$/s.exec(from);
  if (!m) throw new AdminHttpError(400, `${cursor} must be <at>:<id>, the time (epoch ms) and id of the last item of the page before, got "${from}"`);
  return { limit: n, from: { at: Number(m[1]), id: m[2]! } };
}

/** `?limit=` and `?before=<at>:<id>` of a quarantine listing (newest first). */
export function quarantineListing(query: AdminRequest['query']): QuarantineListing {
  const { limit, from } = listingPage(query, 'before');
  return from ? { limit, before: from } : { limit };
}

/** `?limit=` and `?after=<openedAt>:<id>` of a conflict listing (oldest first). */
export function conflictListing(query: AdminRequest['query']): ConflictPage {
  const { limit, from } = listingPage(query, 'after');
  return from ? { limit, after: { openedAt: from.at, id: from.id } } : { limit };
}

/** One admin request, however it arrived (local HTTP server or an API Gateway event). */
export interface AdminRequest {
  readonly method: string;
  /** Decoded path segments: `/flows/a/records/k%2F1` is `['flows', 'a', 'records', 'k/1']`. */
  readonly path: readonly string[];
  /** Query string parameters (first value of each). */
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Reads and parses the JSON body (undefined when empty); called only by routes that take one. */
  readonly body: () => Promise<unknown>;
  /** Who asks: the IAM caller in AWS, header `x-syncline-user` locally. */
  readonly user?: string;
}

/** A request problem answered with its status and `{"message"}`. */
export class AdminHttpError extends SynclineError {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'AdminHttpError';
  }
}

/** Largest admin request body. */
export const MAX_ADMIN_BODY = 1_000_000;

/**
 * Parses a request body as JSON; empty is undefined, invalid JSON or nesting deeper than MAX_BODY_DEPTH a 400. A
 * number a JSON number cannot hold keeps its digits (an InexactNumber), for the route to refuse or carry.
 */
export function parseJsonBody(raw: string): unknown {
  if (raw.trim() === '') return undefined;
  const depth = jsonDepth(raw);
  if (depth > MAX_BODY_DEPTH) throw new AdminHttpError(400, `the body nests ${depth} levels deep; the limit is ${MAX_BODY_DEPTH}`);
  try {
    return parseJsonExact(raw);
  } catch (err) {
    throw new AdminHttpError(400, `the body is not valid JSON: ${jsonErrorText(err)}`);
  }
}

/** Splits a percent-encoded path into decoded segments (so an encoded `/` inside a key stays inside it). */
export function pathSegments(pathname: string): string[] {
  return pathname
    .split('/')
    .filter((s, i, all) => !(s === '' && (i === 0 || i === all.length - 1)))
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new AdminHttpError(400, `path segment "${s}" is not valid percent-encoding`);
      }
    });
}

const notFound = (message: string): AdminAnswer => ({ status: 404, body: { message } });
const found = (body: unknown, what: string): AdminAnswer => (body === undefined ? notFound(`${what} not found`) : { status: 200, body });

/**
 * Routes an admin request to the use case; undefined when no admin route matches (the caller answers 404 or
 * tries its own extensions). A request problem (bad JSON, bad encoding) is answered, not thrown.
 */
export async function routeAdmin(admin: AdminApi, req: AdminRequest): Promise<AdminAnswer | undefined> {
  try {
    return await dispatch(admin, req);
  } catch (err) {
    if (err instanceof AdminHttpError) return { status: err.status, body: { message: err.message } };
    throw err;
  }
}

/** One admin route: its method, its path's shape (`*` is any one segment) and what serves it (undefined: not here). */
interface AdminRoute {
  readonly method: 'GET' | 'POST';
  readonly shape: string;
  readonly serve: (admin: AdminApi, req: AdminRequest, p: readonly string[]) => Promise<AdminAnswer | undefined>;
}

/** Every admin route; dispatch and the 405 answer both read this table. Path parts: p[1] is the flow id. */
const ROUTES: readonly AdminRoute[] = [
  { method: 'GET', shape: 'status', serve: (admin) => admin.status(undefined) },
  { method: 'GET', shape: 'flows', serve: async (admin) => (admin.listFlows ? { status: 200, body: await admin.listFlows() } : undefined) },
  { method: 'GET', shape: 'flows/*', serve: async (admin, _req, p) => found(await admin.getFlow(p[1]!), `flow "${p[1]}"`) },
  { method: 'GET', shape: 'flows/*/status', serve: (admin, _req, p) => admin.status(p[1]!) },
  { method: 'GET', shape: 'flows/*/conflicts', serve: (admin, req, p) => admin.listConflicts(p[1]!, req.query.status, conflictListing(req.query)) },
  { method: 'GET', shape: 'flows/*/quarantine', serve: async (admin, req, p) => found(await admin.quarantine(p[1]!, quarantineListing(req.query)), `flow "${p[1]}"`) },
  {
    method: 'GET',
    shape: 'flows/*/records/*',
    serve: async (admin, _req, [, flowId, , id]) => {
      const tooLong = keyProblem(id!, flowId!);
      if (tooLong) return { status: 400, body: { message: tooLong } };
      const record = await admin.getRecord(flowId!, id!);
      // A deleted record is gone for the user: 404, with its tombstone's version and clocks for the curious.
      if ((record as { deleted?: boolean } | undefined)?.deleted) return { status: 404, body: { message: `record "${id}" of flow "${flowId}" was deleted`, ...(record as object) } };
      return found(record, `record "${id}" of flow "${flowId}"`);
    },
  },
  {
    method: 'GET',
    shape: 'flows/*/records/*/lineage',
    serve: async (admin, _req, p) => {
      const tooLong = keyProblem(p[3]!, p[1]!);
      return tooLong ? { status: 400, body: { message: tooLong } } : found(await admin.lineage(p[1]!, p[3]!), `flow "${p[1]}"`);
    },
  },
  { method: 'POST', shape: 'flows/*/quarantine/replay', serve: async (admin, req, p) => admin.replayQuarantine(p[1]!, await req.body()) },
  { method: 'POST', shape: 'flows/*/try', serve: async (admin, req, p) => (admin.tryRecord ? admin.tryRecord(p[1]!, await req.body()) : undefined) },
  { method: 'POST', shape: 'flows/*/replay', serve: async (admin, req, p) => (admin.replay ? admin.replay(p[1]!, await req.body(), req.user) : undefined) },
  { method: 'POST', shape: 'flows/*/conflicts/*/resolve', serve: async (admin, req, p) => admin.resolveConflict(p[1]!, p[3]!, await req.body(), req.user) },
];

const shapeMatches = (shape: string, path: readonly string[]) => {
  const parts = shape.split('/');
  return parts.length === path.length && parts.every((part, i) => part === '*' || part === path[i]);
};

async function dispatch(admin: AdminApi, req: AdminRequest): Promise<AdminAnswer | undefined> {
  const route = ROUTES.find((r) => r.method === req.method && shapeMatches(r.shape, req.path));
  return route?.serve(admin, req, req.path);
}

/** The answer to a request no route serves: 405 naming the method when the path is a route's, else 404. */
export function noRoute(method: string, path: readonly string[]): AdminAnswer {
  const allowed = [...new Set(ROUTES.filter((r) => shapeMatches(r.shape, path)).map((r) => r.method))];
  if (allowed.length > 0 && !allowed.includes(method.toUpperCase() as 'GET' | 'POST')) {
    return methodNotAllowed(allowed, `/${path.join('/')}`);
  }
  return notFound(`no route for ${method} /${path.join('/')}`);
}

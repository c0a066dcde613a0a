import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { noopLogger, type LogPort } from '../ports';
import { AdminHttpError, MAX_ADMIN_BODY, noRoute, parseJsonBody, routeAdmin, type AdminAnswer, type AdminApi, type AdminRequest } from './admin-api';
import { safeErrorText } from '../core/error-text';

export interface AdminHttpHandlerDeps {
  readonly admin: AdminApi;
  readonly logger?: LogPort;
}

/** An HTTP API (payload 2.0) event of an IAM-authorized route. */
export type AdminHttpEvent = APIGatewayProxyEventV2WithIAMAuthorizer;

const RECORD_TAIL = new Set(['lineage']);

/**
 * The request path as segments. API Gateway hands a flow's admin function `GET|POST /flows/<flow>/{proxy+}` with
 * `pathParameters.proxy` already decoded, so a `/` inside a key reaches it as a separator: everything between
 * `records` and an optional trailing `lineage` is the key.
 */
export function adminPath(event: AdminHttpEvent): string[] {
  const template = event.routeKey.replace(/^[A-Z]+ /, '').split('/').filter(Boolean);
  const params = event.pathParameters ?? {};
  const parts: string[] = [];
  for (const t of template) {
    const m = /^\{([^}+]+)(\+?)\}$/.exec(t);
    if (!m) parts.push(t);
    else if (m[2]) parts.push(...(params[m[1]!] ?? '').split('/').filter(Boolean));
    else parts.push(params[m[1]!] ?? '');
  }
  const i = parts.indexOf('records');
  if (parts[0] === 'flows' && i === 2 && parts.length > 4) {
    const tail = RECORD_TAIL.has(parts[parts.length - 1]!) ? [parts[parts.length - 1]!] : [];
    return [...parts.slice(0, 3), parts.slice(3, parts.length - tail.length).join('/'), ...tail];
  }
  return parts;
}

function json(answer: AdminAnswer): APIGatewayProxyStructuredResultV2 {
  return { statusCode: answer.status, headers: { 'content-type': 'application/json', ...answer.headers }, body: JSON.stringify(answer.body) };
}

/**
 * The admin function's handler: an API Gateway request to the shared admin router. The caller is the IAM
 * principal API Gateway authenticated; bad input is answered 4xx with a message, other failures are thrown
 * (API Gateway answers 500 and the function's error metric counts them).
 */
export function createAdminHttpHandler(deps: AdminHttpHandlerDeps): (event: AdminHttpEvent) => Promise<APIGatewayProxyStructuredResultV2> {
  const logger = deps.logger ?? noopLogger;
  return async (event) => {
    const method = event.requestContext.http.method;
    const path = adminPath(event);
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) query[k] = v.split(',')[0]!;
    const user = event.requestContext.authorizer?.iam?.userArn;
    const request: AdminRequest = {
      method,
      path,
      query,
      body: async () => {
        const raw = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
        if (Buffer.byteLength(raw) > MAX_ADMIN_BODY) throw new AdminHttpError(413, `body exceeds the limit of ${MAX_ADMIN_BODY} bytes`);
        return parseJsonBody(raw);
      },
      ...(user ? { user } : {}),
    };
    let answer: AdminAnswer;
    try {
      answer = (await routeAdmin(deps.admin, request)) ?? noRoute(method, path);
    } catch (err) {
      // DynamoDB refused the input (e.g. a key over its size limit): the caller's input, not a fault.
      if ((err as { name?: string })?.name === 'ValidationException') answer = { status: 400, body: { message: `DynamoDB refused the request: ${safeErrorText(err)}` } };
      else throw err;
    }
    logger.info('admin request', { method, route: event.routeKey, status: answer.status, ...(user ? { caller: user } : {}) });
    return json(answer);
  };
}

/**
 * The stack's `GET /flows` handler: the flows' summaries, built once (they are baked into the bundle). Another
 * method is answered 405, anything else 404.
 */
export function createFlowListHandler(deps: { readonly flows: () => unknown; readonly logger?: LogPort }): (event: AdminHttpEvent) => Promise<APIGatewayProxyStructuredResultV2> {
  return async (event) => {
    const method = event.requestContext.http.method;
    const path = adminPath(event);
    const listing = method === 'GET' && path.length === 1 && path[0] === 'flows';
    const answer = listing ? { status: 200, body: deps.flows() } : noRoute(method, path);
    (deps.logger ?? noopLogger).info('admin request', { method, route: event.routeKey, status: answer.status });
    return json(answer);
  };
}

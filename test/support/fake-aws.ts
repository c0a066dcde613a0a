import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { redriveQueue } from '../../lib/local/redrive';

/** Stand-ins for the AWS endpoints the CLI calls against a deployed stack, on 127.0.0.1 (port 0). */

export interface FakeEndpoint {
  readonly url: string;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => Promise<void> | void;

async function listen(handle: Handler): Promise<FakeEndpoint> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Promise.resolve(handle(req, Buffer.concat(chunks), res)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: (err as Error).message }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
};

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** CloudFormation DescribeStacks (query protocol, XML answers) over a map of stack name to outputs. */
export function startFakeCloudFormation(stacks: Record<string, Record<string, string>>): Promise<FakeEndpoint> {
  return listen((_req, body, res) => {
    const form = new URLSearchParams(body.toString('utf8'));
    const ns = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
    const name = form.get('StackName') ?? '';
    const outputs = stacks[name];
    if (form.get('Action') !== 'DescribeStacks' || !outputs) {
      const message = outputs ? `unsupported action ${form.get('Action')}` : `Stack with id ${name} does not exist`;
      res.writeHead(400, { 'content-type': 'text/xml' });
      res.end(`<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
      return;
    }
    const members = Object.entries(outputs)
      .map(([k, v]) => `<member><OutputKey>${xmlEscape(k)}</OutputKey><OutputValue>${xmlEscape(v)}</OutputValue></member>`)
      .join('');
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<DescribeStacksResponse xmlns="${ns}"><DescribeStacksResult><Stacks><member><StackName>${xmlEscape(name)}</StackName>` +
        `<StackId>arn:aws:cloudformation:eu-west-1:000000000000:stack/${xmlEscape(name)}/1</StackId><CreationTime>2026-01-01T00:00:00Z</CreationTime>` +
        `<StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult>` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeStacksResponse>`,
    );
  });
}

/** The admin routes an HTTP API of a deployed stack has (no /status, no redrive, pull or backfill). */
const API_ROUTES = [
  'GET /flows',
  'GET /flows/*',
  'GET /flows/*/status',
  'GET /flows/*/records/*',
  'GET /flows/*/records/*/lineage',
  'GET /flows/*/conflicts',
  'POST /flows/*/conflicts/*/resolve',
  'GET /flows/*/quarantine',
  'POST /flows/*/quarantine/replay',
  'POST /flows/*/replay',
  'POST /flows/*/try',
];

function routeOf(method: string, path: string): string | undefined {
  const parts = path.split('/').filter(Boolean);
  return API_ROUTES.find((route) => {
    const [m, template] = route.split(' ') as [string, string];
    const t = template.split('/').filter(Boolean);
    return m === method && t.length === parts.length && t.every((seg, i) => seg === '*' || seg === parts[i]);
  });
}

export interface FakeApiOptions {
  /** Where the admin routes are served (a local runtime). */
  readonly upstream: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Routes (as in API_ROUTES) the caller has no execute-api:Invoke on. */
  readonly denied?: readonly string[];
}

/**
 * An HTTP API with IAM authorization: it verifies each request's SigV4 signature (service execute-api), answers
 * 403 as API Gateway does for an unsigned or badly signed request and for a route the caller may not invoke, and
 * forwards the admin routes to the upstream runtime.
 */
export function startFakeIamHttpApi(options: FakeApiOptions): Promise<FakeEndpoint & { readonly refused: string[] }> {
  const refused: string[] = [];
  const signer = new SignatureV4({ service: 'execute-api', region: options.region, credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }, sha256: Sha256 });
  const forbid = (res: ServerResponse, why: string, message = 'Forbidden') => {
    refused.push(why);
    sendJson(res, 403, { message });
  };
  return listen(async (req, body, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? '');
    const amzDate = req.headers['x-amz-date'];
    if (!auth || typeof amzDate !== 'string') return forbid(res, 'unsigned');
    const [, keyId, , region, service, signedHeaders, signature] = auth as unknown as [string, string, string, string, string, string, string];
    if (keyId !== options.accessKeyId) return forbid(res, 'unknown key', 'The security token included in the request is invalid.');
    if (region !== options.region || service !== 'execute-api') return forbid(res, 'wrong scope', `Credential should be scoped to a valid region and service execute-api`);
    const headers: Record<string, string> = {};
    for (const name of signedHeaders.split(';')) headers[name] = String(req.headers[name] ?? '');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    const expected = await signer.sign(
      { method, protocol: 'http:', hostname: '127.0.0.1', path: url.pathname, query, headers, ...(body.length ? { body: body.toString('utf8') } : {}) },
      { signingDate },
    );
    if (!String(expected.headers.authorization).endsWith(`Signature=${signature}`)) {
      return forbid(res, 'bad signature', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
    }
    const route = routeOf(method, url.pathname);
    if (!route) return sendJson(res, 404, { message: 'Not Found' });
    if (options.denied?.includes(route)) return forbid(res, `denied ${route}`);
    const upstream = await fetch(`${options.upstream}${url.pathname}${url.search}`, {
      method,
      // API Gateway hands the function the IAM caller (requestContext.authorizer.iam); the local runtime reads this header.
      headers: { 'content-type': 'application/json', 'x-syncline-user': `arn:aws:iam::111122223333:user/${keyId}` },
      ...(method === 'POST' ? { body } : {}),
    });
    const text = await upstream.text();
    res.writeHead(upstream.status, { 'content-type': 'application/json' });
    res.end(text);
  }).then((endpoint) => Object.assign(endpoint, { refused }));
}

interface MoveTask {
  TaskHandle: string;
  SourceArn: string;
  DestinationArn: string;
  Status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  ApproximateNumberOfMessagesMoved: number;
  ApproximateNumberOfMessagesToMove: number;
  StartedTimestamp: number;
  FailureReason?: string;
}

/**
 * An SQS front for fauxqs, which has no message move tasks: StartMessageMoveTask moves a DLQ's messages to the
 * destination queue in the background, ListMessageMoveTasks reports them (newest first), and every other call
 * goes to fauxqs unchanged.
 */
export function startSqsMoveTaskFront(fauxqs: string): Promise<FakeEndpoint & { readonly tasks: MoveTask[] }> {
  const tasks: MoveTask[] = [];
  const sqs = new SQSClient({ endpoint: fauxqs, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const urlOf = async (arn: string) => (await sqs.send(new GetQueueUrlCommand({ QueueName: arn.split(':').at(-1)! }))).QueueUrl!;
  const reply = (res: ServerResponse, status: number, body: unknown) => sendJson(res, status, body, { 'content-type': 'application/x-amz-json-1.0' });
  return listen(async (req, body, res) => {
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    if (action === 'StartMessageMoveTask') {
      const input = JSON.parse(body.toString('utf8')) as { SourceArn: string; DestinationArn: string };
      if (tasks.some((t) => t.SourceArn === input.SourceArn && t.Status === 'RUNNING')) {
        return reply(res, 400, { __type: 'com.amazonaws.sqs#UnsupportedOperation', message: 'There is already a task running. Only one active task is allowed for each source queue arn at a given time.' });
      }
      const [source, destination] = await Promise.all([urlOf(input.SourceArn), urlOf(input.DestinationArn)]);
      const count = Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: source, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes?.ApproximateNumberOfMessages ?? 0);
      const task: MoveTask = { TaskHandle: randomUUID(), ...input, Status: 'RUNNING', ApproximateNumberOfMessagesMoved: 0, ApproximateNumberOfMessagesToMove: count, StartedTimestamp: Date.now() };
      tasks.unshift(task);
      redriveQueue(sqs, source, destination, count).then(
        (moved) => Object.assign(task, { Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: moved }),
        (err: Error) => Object.assign(task, { Status: 'FAILED', FailureReason: err.message }),
      );
      return reply(res, 200, { TaskHandle: task.TaskHandle });
    }
    if (action === 'ListMessageMoveTasks') {
      const input = JSON.parse(body.toString('utf8')) as { SourceArn: string; MaxResults?: number };
      const results = tasks.filter((t) => t.SourceArn === input.SourceArn).slice(0, input.MaxResults ?? 1);
      return reply(res, 200, { Results: results.map(({ TaskHandle, ...rest }) => (rest.Status === 'RUNNING' ? { TaskHandle, ...rest } : rest)) });
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k !== 'host' && k !== 'content-length' && typeof v === 'string') headers[k] = v;
    const upstream = await fetch(`${fauxqs}${req.url ?? '/'}`, { method: req.method, headers, ...(body.length ? { body } : {}) });
    const out = Buffer.from(await upstream.arrayBuffer());
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
    res.end(out);
  }).then((endpoint) => Object.assign(endpoint, { tasks }));
}

/**
 * Lambda Invoke for the capture functions of a local runtime: a `backfill` or `pull` payload becomes the
 * runtime's admin route; an error answer becomes a function error (`X-Amz-Function-Error`), as a failed
 * invocation reports it.
 */
export function startFakeLambda(
  runtime: string,
  functions: Record<string, { flow: string; source: string }>,
): Promise<FakeEndpoint & { readonly invoked: { name: string; payload: unknown }[]; readonly crashes: string[] }> {
  const invoked: { name: string; payload: unknown }[] = [];
  /** Error messages the next invocations fail with, as a crashed or timed-out function reports it. */
  const crashes: string[] = [];
  return listen(async (req, body, res) => {
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url ?? '');
    const name = m ? decodeURIComponent(m[1]!) : '';
    const fn = functions[name];
    if (!fn) return sendJson(res, 404, { Type: 'User', message: `Function not found: ${name}` }, { 'x-amzn-errortype': 'ResourceNotFoundException' });
    const payload = JSON.parse(body.toString('utf8')) as { action: string; sourceId: string } & Record<string, unknown>;
    invoked.push({ name, payload });
    const crash = crashes.shift();
    if (crash !== undefined) return sendJson(res, 200, { errorType: 'Error', errorMessage: crash }, { 'x-amz-function-error': 'Unhandled' });
    const { action, sourceId, ...rest } = payload;
    const answer = await fetch(`${runtime}/flows/${encodeURIComponent(fn.flow)}/sources/${encodeURIComponent(sourceId)}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(rest),
    });
    const result = (await answer.json()) as { message?: string };
    if (!answer.ok) return sendJson(res, 200, { errorType: 'Error', errorMessage: result.message ?? `HTTP ${answer.status}` }, { 'x-amz-function-error': 'Unhandled' });
    sendJson(res, 200, result);
  }).then((endpoint) => Object.assign(endpoint, { invoked, crashes }));
}

import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, ListMessageMoveTasksCommand, SQSClient, StartMessageMoveTaskCommand, type ListMessageMoveTasksResultEntry } from '@aws-sdk/client-sqs';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { PullSummary } from '../../functions/core/pull/pull-run';
import { AdminError, answerMessage, fetchJson, GET_TIMEOUT_MS, httpError, POST_TIMEOUT_MS, UnreachableError, type JsonAnswer } from './admin-client';
import type { Progress } from './progress';
import type { BackfillChunkRequest, BackfillChunkResult, PullOptions, RedriveResult, SynclineTarget } from './target';
import { messageOf } from '../../functions/core/errors';
import { stringifyExact } from '../../functions/core/json-safety';

const enc = encodeURIComponent;

/** Polls for a started move task to be listed before the redrive of that queue is reported failed. */
const MAX_POLLS_FOR_NEW_TASK = 30;
/** How much earlier than our clock a task we started may be stamped by SQS's. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** The stack output that holds the HTTP API's base URL. */
export const API_ENDPOINT_OUTPUT = 'ApiEndpoint';

/** The admin routes of the HTTP API, to name the route (and so the IAM resource) a refused request needed. */
export const ADMIN_ROUTES = [
  'GET /flows',
  'GET /flows/{flowId}',
  'GET /flows/{flowId}/status',
  'GET /flows/{flowId}/records/{key}',
  'GET /flows/{flowId}/records/{key}/lineage',
  'GET /flows/{flowId}/conflicts',
  'POST /flows/{flowId}/conflicts/{conflictId}/resolve',
  'GET /flows/{flowId}/quarantine',
  'POST /flows/{flowId}/quarantine/replay',
  'POST /flows/{flowId}/replay',
  'POST /flows/{flowId}/try',
] as const;

/** The route key (`GET /flows/{flowId}`) a request path falls under, else the path itself. */
export function routeOf(method: string, path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  for (const route of ADMIN_ROUTES) {
    const [m, template] = route.split(' ') as [string, string];
    const t = template.split('/').filter(Boolean);
    if (m === method && t.length === parts.length && t.every((seg, i) => seg.startsWith('{') || seg === parts[i])) return route;
  }
  return `${method} ${path.split('?')[0]}`;
}

/** The queues and functions of a flow, as `GET /flows/{flowId}` answers them. */
interface FlowView {
  readonly id: string;
  readonly config?: { readonly sources?: readonly { readonly id: string; readonly type: string }[] };
  readonly resources: {
    readonly queues: readonly { readonly id: string; readonly name: string; readonly url: string; readonly arn: string; readonly dlq: { readonly name: string; readonly url: string; readonly arn: string } }[];
    readonly functions: readonly { readonly id: string; readonly name: string; readonly step?: string; readonly handler?: string; readonly sourceId?: string }[];
  };
}

export interface StackTargetOptions {
  readonly stackName: string;
  /** @default the SDK's chain (AWS_REGION, the profile) */
  readonly region?: string;
  /** @default the SDK's default credentials chain */
  readonly profile?: string;
  /** @default the node credentials chain for `profile` */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Pause between polls of a running move task. @default 1000 */
  readonly pollMs?: number;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** An AWS SDK failure as one line naming the action, with a hint for missing credentials, region or permission. */
export function awsError(action: string, resource: string, err: unknown): AdminError {
  const e = err as Error;
  if (e instanceof AdminError) return e;
  if (e.name === 'CredentialsProviderError') return new AdminError(`no AWS credentials found (${e.message}): pass --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`);
  if (/region is missing/i.test(e.message)) return new AdminError('no AWS region: pass --region, or set AWS_REGION (or a region in the profile)');
  if (/AccessDenied|not authorized/i.test(`${e.name} ${e.message}`)) return new AdminError(`${action} on ${resource} was refused: the caller needs permission ${action} (${e.message})`);
  return new AdminError(`${action} on ${resource} failed: ${e.name}: ${e.message}`);
}

/** Runs an AWS call, turning its failure into an AdminError (see awsError). */
async function aws<T>(action: string, resource: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw awsError(action, resource, err);
  }
}

/** Opens a deployed stack: reads its `ApiEndpoint` output with CloudFormation DescribeStacks. */
export async function openStack(options: StackTargetOptions): Promise<StackTarget> {
  const credentials = options.credentials ?? defaultProvider(options.profile ? { profile: options.profile } : {});
  const config = { credentials, ...(options.region ? { region: options.region } : {}), ...(options.profile ? { profile: options.profile } : {}) };
  const cfn = new CloudFormationClient(config);
  let described;
  try {
    described = await cfn.send(new DescribeStacksCommand({ StackName: options.stackName }));
  } catch (err) {
    if ((err as Error).name === 'ValidationError' && /does not exist/.test(messageOf(err))) {
      throw new AdminError(`stack "${options.stackName}" not found in ${await cfn.config.region()}: check --stack and --region (${messageOf(err)})`);
    }
    throw awsError('cloudformation:DescribeStacks', `stack ${options.stackName}`, err);
  }
  const region = await cfn.config.region();
  const stack = described.Stacks?.[0];
  if (!stack) throw new AdminError(`stack "${options.stackName}" not found in ${region}`);
  const outputs = stack.Outputs ?? [];
  const endpoint = outputs.find((o) => o.OutputKey === API_ENDPOINT_OUTPUT)?.OutputValue;
  if (!endpoint) {
    throw new AdminError(
      `stack "${options.stackName}" (${stack.StackStatus ?? 'unknown status'}) has no output ${API_ENDPOINT_OUTPUT}: is it a syncline stack, fully deployed? ` +
        `(outputs: ${outputs.map((o) => o.OutputKey).join(', ') || 'none'})`,
    );
  }
  return new StackTarget({
    stackName: options.stackName,
    region,
    apiEndpoint: endpoint,
    apiId: outputs.find((o) => o.OutputKey === 'ApiId')?.OutputValue,
    credentials,
    // The endpoint (AWS_ENDPOINT_URL_SQS, if set) wins over each queue URL's host; in AWS the two are the same.
    sqs: new SQSClient({ ...config, region, useQueueUrlAsEndpoint: false }),
    // One attempt: a retried pull would find the first one's lease, a retried backfill chunk would run twice.
    lambda: new LambdaClient({ ...config, region, maxAttempts: 1 }),
    pollMs: options.pollMs ?? 1000,
  });
}

export interface StackTargetDeps {
  readonly stackName: string;
  readonly region: string;
  /** The HTTP API's base URL (the `ApiEndpoint` output). */
  readonly apiEndpoint: string;
  /** The HTTP API's id (output `ApiId`), for the resource of a missing execute-api:Invoke; else read from the endpoint's host. */
  readonly apiId?: string;
  readonly credentials: AwsCredentialIdentityProvider;
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
  readonly pollMs: number;
}

/**
 * A deployed stack: admin routes through its HTTP API with SigV4-signed requests (IAM authorization), DLQ
 * redrive with SQS message move tasks, and backfill and pull by invoking the source's capture function.
 */
export class StackTarget implements SynclineTarget {
  readonly name: string;
  private readonly api: string;
  private readonly signer: SignatureV4;
  private readonly flows = new Map<string, Promise<FlowView>>();

  constructor(private readonly deps: StackTargetDeps) {
    this.name = `stack ${deps.stackName} (${deps.region})`;
    this.api = deps.apiEndpoint.replace(/\/+$/, '');
    this.signer = new SignatureV4({ service: 'execute-api', region: deps.region, credentials: deps.credentials, sha256: Sha256 });
  }

  /** Sends a SigV4-signed request to the HTTP API. */
  async send(method: 'GET' | 'POST', path: string, body?: unknown): Promise<JsonAnswer> {
    const url = new URL(`${this.api}${path}`);
    const payload = method === 'POST' ? stringifyExact(body ?? {}) : undefined;
    const headers: Record<string, string> = { host: url.host, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) };
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const signed = await aws('sign the request', `stack ${this.deps.stackName}`, () =>
      this.signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
      }),
    );
    // fetch sets Host itself, from the same URL.
    const { host: _host, ...sendHeaders } = signed.headers;
    try {
      return await fetchJson(url.href, { method, headers: sendHeaders, body: payload, timeoutMs: method === 'GET' ? GET_TIMEOUT_MS : POST_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof UnreachableError) throw new AdminError(`cannot reach the API of ${this.name} at ${this.api} (${err.reason})`);
      throw err;
    }
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const answer = await this.send(method, path, body);
    if (answer.status === 403) throw this.forbidden(method, path, answerMessage(answer.body));
    if (answer.status < 200 || answer.status > 299) throw httpError(method, path, answer);
    return answer.body;
  }

  /** API Gateway's 403: a missing permission, or credentials it refused. */
  private forbidden(method: string, path: string, message: string): AdminError {
    const route = routeOf(method, path);
    if (message === '' || /^forbidden$/i.test(message) || /not authorized/i.test(message)) {
      const apiId = this.deps.apiId ?? new URL(this.api).hostname.split('.')[0];
      const resource = /resource: (\S+)/.exec(message)?.[1] ?? `arn:aws:execute-api:${this.deps.region}:<account>:${apiId}/*/${route.replace(' ', '').replace(/\{[^}]+\}/g, '*')}`;
      return new AdminError(`forbidden: the caller lacks execute-api:Invoke on ${route} of ${this.name} (allow it on ${resource})${message ? `; API Gateway said: ${message}` : ''}`);
    }
    return new AdminError(`HTTP 403 from ${method} ${path}: ${message} (the API refused the request's credentials or signature: check the AWS credentials, profile and clock)`);
  }

  get(path: string): Promise<unknown> {
    return this.call('GET', path);
  }

  post(path: string, body?: unknown): Promise<unknown> {
    return this.call('POST', path, body);
  }

  private flow(flowId: string): Promise<FlowView> {
    let view = this.flows.get(flowId);
    if (!view) {
      view = this.get(`/flows/${enc(flowId)}`) as Promise<FlowView>;
      this.flows.set(flowId, view);
    }
    return view;
  }

  async redrive(flowId: string, step: string | undefined, progress: Progress): Promise<RedriveResult> {
    const queues = (await this.flow(flowId)).resources.queues;
    if (step !== undefined && !queues.some((q) => q.id === step)) throw new AdminError(`step must be one of ${queues.map((q) => q.id).join(', ')}`);
    const moved: Record<string, number> = {};
    const failed: Record<string, string> = {};
    const alreadyRunning: string[] = [];
    for (const q of queues) {
      if (step !== undefined && q.id !== step) continue;
      const attrs = await aws('sqs:GetQueueAttributes', q.dlq.arn, () =>
        this.deps.sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] })),
      );
      const waiting = Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0);
      moved[q.id] = 0;
      if (waiting === 0) continue;
      // The task listed newest before ours starts: until ours is listed, the newest may still be that one.
      const earlier = await this.latestTask(q.dlq.arn).then(
        (task) => ({ known: true, started: task?.StartedTimestamp }),
        () => ({ known: false, started: undefined }),
      );
      let handle: string | undefined;
      let ours: number | undefined;
      try {
        handle = (await this.deps.sqs.send(new StartMessageMoveTaskCommand({ SourceArn: q.dlq.arn, DestinationArn: q.arn }))).TaskHandle;
        ours = Date.now();
      } catch (err) {
        // SQS allows one move task per source queue: follow the one already running.
        const running = await this.latestTask(q.dlq.arn).catch(() => undefined);
        if (running?.Status !== 'RUNNING') throw awsError('sqs:StartMessageMoveTask', q.dlq.arn, err);
        alreadyRunning.push(q.id);
      }
      // Ours: listed with its handle (SQS gives the handle of running tasks only), or started after the one listed
      // before (or, when that listing failed, not before we started it, give or take clock skew).
      let seenStarted: number | undefined;
      const isOurs = (task: ListMessageMoveTasksResultEntry): boolean => {
        if (ours === undefined) return true;
        if (handle !== undefined && task.TaskHandle === handle) return true;
        if (seenStarted !== undefined) return task.StartedTimestamp === seenStarted;
        if (earlier.known) return task.StartedTimestamp !== earlier.started;
        return (task.StartedTimestamp ?? 0) >= ours - CLOCK_SKEW_MS;
      };
      progress.update(0, waiting, q.id);
      for (let polls = 0; ; polls++) {
        const task = await this.latestTask(q.dlq.arn);
        if (!task || !isOurs(task)) {
          if (polls >= MAX_POLLS_FOR_NEW_TASK) {
            failed[q.id] = 'the move task it started was not listed by ListMessageMoveTasks: see the SQS console (DLQ redrive)';
            break;
          }
          await new Promise((r) => setTimeout(r, this.deps.pollMs));
          continue;
        }
        seenStarted ??= task.StartedTimestamp;
        moved[q.id] = task.ApproximateNumberOfMessagesMoved ?? 0;
        progress.update(moved[q.id]!, task.ApproximateNumberOfMessagesToMove ?? waiting, q.id);
        if (TERMINAL.has(task.Status ?? '')) {
          if (task.Status !== 'COMPLETED') failed[q.id] = `move task ${task.Status}${task.FailureReason ? `: ${task.FailureReason}` : ''}`;
          break;
        }
        await new Promise((r) => setTimeout(r, this.deps.pollMs));
      }
    }
    const total = Object.values(moved).reduce((a, b) => a + b, 0);
    return { flow: flowId, moved, total, ...(Object.keys(failed).length ? { failed } : {}), ...(alreadyRunning.length ? { alreadyRunning } : {}) };
  }

  /** The most recent move task of a DLQ (SQS lists the newest first). */
  private async latestTask(dlqArn: string): Promise<ListMessageMoveTasksResultEntry | undefined> {
    const out = await aws('sqs:ListMessageMoveTasks', dlqArn, () => this.deps.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 1 })));
    return out.Results?.[0];
  }

  /** The capture function of a source, checked to run the expected handler. */
  private async captureFunction(flowId: string, sourceId: string, handler: string, what: string): Promise<string> {
    const view = await this.flow(flowId);
    const sources = view.config?.sources;
    const source = sources?.find((s) => s.id === sourceId);
    if (sources && !source) throw new AdminError(`flow "${flowId}" has no source "${sourceId}" (sources: ${sources.map((s) => s.id).join(', ')})`);
    const fn = view.resources.functions.find((f) => f.step === 'capture' && (f.sourceId ?? f.id.replace(/^capture-/, '')) === sourceId);
    if (!fn || (fn.handler !== undefined && fn.handler !== handler)) {
      throw new AdminError(`source "${sourceId}" of flow "${flowId}" is ${source ? `a ${source.type} source` : `run by ${fn?.handler ?? 'no capture function'}`}; ${what}`);
    }
    return fn.name;
  }

  /** Invokes a function and waits for its answer; a function error becomes an AdminError with its message. */
  private async invoke(functionName: string, payload: unknown): Promise<unknown> {
    const out = await aws('lambda:InvokeFunction', functionName, () =>
      this.deps.lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(payload)) })),
    );
    const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (out.FunctionError) {
      const message = (body as { errorMessage?: unknown } | undefined)?.errorMessage;
      throw new AdminError(`${functionName} failed (${out.FunctionError}): ${typeof message === 'string' ? message : text || 'no message'}`);
    }
    return body;
  }

  async backfillChunk(flowId: string, sourceId: string, request: BackfillChunkRequest): Promise<BackfillChunkResult> {
    const fn = await this.captureFunction(flowId, sourceId, 'dynamodb-stream-capture', 'only dynamodb-stream sources can be backfilled');
    return (await this.invoke(fn, { action: 'backfill', sourceId, ...request })) as BackfillChunkResult;
  }

  async pull(flowId: string, sourceId: string, options: PullOptions): Promise<PullSummary> {
    const fn = await this.captureFunction(flowId, sourceId, 'schedule-capture', 'only schedule sources can be pulled');
    return (await this.invoke(fn, { action: 'pull', sourceId, ...options })) as PullSummary;
  }

  async storeClient(): Promise<DynamoDBDocumentClient> {
    return DynamoDBDocumentClient.from(new DynamoDBClient({ region: this.deps.region, credentials: this.deps.credentials }));
  }
}

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PullSummary } from '../../functions/core/pull/pull-run';
import type { LocalEndpoints } from '../local/clients';
import { AdminError, adminUrl, fetchJson, GET_TIMEOUT_MS, httpError, POST_TIMEOUT_MS, UnreachableError } from './admin-client';
import type { Progress } from './progress';
import type { BackfillChunkRequest, BackfillChunkResult, PullOptions, RedriveResult, SynclineTarget } from './target';
import { stringifyExact } from '../../functions/core/json-safety';

const enc = encodeURIComponent;

/** Messages moved per redrive request, so the bar moves while a large DLQ drains. */
export const REDRIVE_CHUNK = 100;

interface RedriveAnswer {
  readonly moved: Record<string, number>;
  readonly total: number;
  /** Messages left per queue; absent from runtimes that move everything in one request. */
  readonly remaining?: Record<string, number>;
}

/** The local runtime: every operation is an admin route. */
export class LocalTarget implements SynclineTarget {
  readonly base: string;
  readonly name: string;

  constructor(url?: string) {
    this.base = adminUrl(url);
    this.name = `syncline at ${this.base}`;
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let answer;
    try {
      answer =
        method === 'GET'
          ? await fetchJson(`${this.base}${path}`, { method, timeoutMs: GET_TIMEOUT_MS })
          : await fetchJson(`${this.base}${path}`, {
              method,
              headers: { 'content-type': 'application/json' },
              body: body === undefined ? '' : stringifyExact(body),
              timeoutMs: POST_TIMEOUT_MS,
            });
    } catch (err) {
      if (err instanceof UnreachableError) throw new AdminError(`cannot reach syncline at ${this.base} (${err.reason}): start it with \`npm start\`, or pass --url / SYNCLINE_URL`);
      throw err;
    }
    if (answer.status < 200 || answer.status > 299) throw httpError(method, path, answer);
    return answer.body;
  }

  get(path: string): Promise<unknown> {
    return this.call('GET', path);
  }

  post(path: string, body?: unknown): Promise<unknown> {
    return this.call('POST', path, body);
  }

  async redrive(flowId: string, step: string | undefined, progress: Progress): Promise<RedriveResult> {
    const moved: Record<string, number> = {};
    let total = 0;
    // Chunks of `max` messages until nothing is left; a runtime that ignores `max` moves all at once.
    for (;;) {
      const answer = (await this.post(`/flows/${enc(flowId)}/redrive`, { ...(step ? { step } : {}), max: REDRIVE_CHUNK })) as RedriveAnswer;
      for (const [queue, n] of Object.entries(answer.moved)) moved[queue] = (moved[queue] ?? 0) + n;
      total += answer.total;
      const remaining = answer.remaining ? Object.values(answer.remaining).reduce((a, b) => a + b, 0) : 0;
      progress.update(total, total + remaining);
      if (answer.total === 0 || remaining === 0) break;
    }
    return { flow: flowId, moved, total };
  }

  async backfillChunk(flowId: string, sourceId: string, request: BackfillChunkRequest): Promise<BackfillChunkResult> {
    return (await this.post(`/flows/${enc(flowId)}/sources/${enc(sourceId)}/backfill`, request)) as BackfillChunkResult;
  }

  async pull(flowId: string, sourceId: string, options: PullOptions): Promise<PullSummary> {
    return (await this.post(`/flows/${enc(flowId)}/sources/${enc(sourceId)}/pull`, options)) as PullSummary;
  }

  async storeClient(): Promise<DynamoDBDocumentClient> {
    const endpoints = (await this.get('/local/endpoints')) as LocalEndpoints;
    // Loaded only here: other local commands start without the SDK.
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const { LOCAL_CREDENTIALS, LOCAL_REGION } = await import('../local/clients');
    return DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: endpoints.dynamodb, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }));
  }
}

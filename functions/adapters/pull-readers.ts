import type { S3Client } from '@aws-sdk/client-s3';
import type { ScheduleSource } from '../core/pull/records';
import { lookbackMsOf } from '../core/pull/run-state';
import type { PullReader, Secrets } from '../ports';
import { HttpPageFetcher } from './http-page-fetcher';
import { HttpPullReader } from './http-pull-reader';
import { S3ObjectReader } from './s3-object-reader';
import type { RetryOptions } from './retry';

export interface PullReaderDeps {
  /** Auth secrets of HTTP sources (Secrets Manager in AWS, env/file locally). */
  readonly secrets: Secrets;
  /** Required for `s3` sources. */
  readonly s3Client?: S3Client;
  /** @default global fetch with the source's timeout */
  readonly fetcher?: HttpPageFetcher;
  readonly retry?: RetryOptions;
  /** Token requests of `oauth2` sources are logged here (never a secret). */
  readonly log?: (message: string, attributes: Record<string, unknown>) => void;
}

/** The reader of a `schedule` source: HTTP API or S3 objects. */
export function createPullReader(source: ScheduleSource, deps: PullReaderDeps): PullReader {
  if (source.http) {
    const http = source.http;
    return new HttpPullReader({
      http,
      incremental: source.mode === 'incremental',
      lookbackMs: lookbackMsOf(source),
      secrets: deps.secrets,
      fetcher: deps.fetcher ?? new HttpPageFetcher({ timeoutMs: http.timeoutMs, retry: deps.retry }),
      auth: { timeoutMs: http.timeoutMs, ...(deps.log ? { log: deps.log } : {}) },
    });
  }
  // A bundle for a flow that pulls no S3 objects leaves the object reader and its CSV parser out (function-bundling.ts).
  if (source.s3 && (typeof __SYNCLINE_READS_S3_OBJECTS__ === 'undefined' || __SYNCLINE_READS_S3_OBJECTS__)) {
    const client = deps.s3Client;
    if (!client) throw new Error(`schedule source "${source.id}" reads S3 but no S3 client was given`);
    const { bucket, prefix, format } = source.s3;
    return new S3ObjectReader({ client, bucket, prefix, format });
  }
  throw new Error(`schedule source "${source.id}" has neither http nor s3`);
}

/** Whether the bundle holds the S3 object reader (esbuild define); undefined when unbundled. */
declare const __SYNCLINE_READS_S3_OBJECTS__: boolean | undefined;

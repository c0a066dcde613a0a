import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PullSummary } from '../../functions/core/pull/pull-run';
import type { BackfillChunkRequest, BackfillChunkResult } from '../../functions/handlers/backfill-handler';
import type { Progress } from './progress';
import { UsageError } from './command';

/** One chunk of a backfill, and its answer: the use case's own types, the same locally and in AWS. */
export type { BackfillChunkRequest, BackfillChunkResult } from '../../functions/handlers/backfill-handler';

/** What a redrive moved, per queue id. */
export interface RedriveResult {
  readonly flow: string;
  readonly moved: Record<string, number>;
  readonly total: number;
  /** Queues whose move did not finish, with the reason. */
  readonly failed?: Record<string, string>;
  /** Queues whose DLQ already had a move task running (AWS); it was followed instead of starting one. */
  readonly alreadyRunning?: readonly string[];
}

/** Options of an on-demand pull of a `schedule` source. */
export interface PullOptions {
  /** Override the `maxDeleteRatio` guard for this run. */
  readonly acceptDeletes?: boolean;
  /** Drop an active run's progress and start over. */
  readonly restart?: boolean;
}

/**
 * Where the CLI's commands run: the local runtime (`--url`) or a deployed stack (`--stack`). The admin API has
 * the same paths and answers in both; the operations that AWS runs without the API differ per target.
 */
export interface SynclineTarget {
  /** Names the target in messages, e.g. `stack prod (eu-west-1)`. */
  readonly name: string;
  /** GETs a JSON document from the admin API; failures throw AdminError. */
  get(path: string): Promise<unknown>;
  /** POSTs a JSON body to the admin API; failures throw AdminError. */
  post(path: string, body?: unknown): Promise<unknown>;
  /** Moves a flow's DLQ messages back to their queues (all, or the queue `step`), drawing progress. */
  redrive(flowId: string, step: string | undefined, progress: Progress): Promise<RedriveResult>;
  /** Runs one chunk of a backfill of a `dynamodb-stream` source. */
  backfillChunk(flowId: string, sourceId: string, request: BackfillChunkRequest): Promise<BackfillChunkResult>;
  /** Runs a `schedule` source now; answers the pull summary. */
  pull(flowId: string, sourceId: string, options: PullOptions): Promise<PullSummary>;
  /** A DynamoDB client for the store tables, with the caller's own credentials (what the admin API does not do). */
  storeClient(): Promise<DynamoDBDocumentClient>;
}

/** The options every command that talks to syncline takes. */
export const targetOptions = {
  url: { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Usage text of the target options, for each command's help. */
export const TARGET_USAGE = [
  'target options (the local runtime, or a deployed stack; not both):',
  '  --url URL        the local runtime (default: env SYNCLINE_URL, else http://127.0.0.1:3000)',
  '  --stack NAME     a deployed stack instead: its outputs are read with the AWS SDK (CloudFormation)',
  '  --region REGION  the stack\'s region (default: AWS_REGION or the profile\'s)',
  '  --profile NAME   AWS credentials profile (default: the SDK\'s default chain)',
  '  --json           machine-readable output on stdout',
].join('\n');

export interface TargetFlags {
  readonly url?: string;
  readonly stack?: string;
  readonly region?: string;
  readonly profile?: string;
}

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** Resolves `--url` / `--stack` into a target; both at once, or AWS options without a stack, are usage errors. */
export async function resolveTarget(flags: TargetFlags): Promise<SynclineTarget> {
  if (flags.url !== undefined && flags.stack !== undefined) throw new UsageError('give either --url (local runtime) or --stack (deployed stack), not both');
  if (flags.stack === undefined) {
    if (flags.region !== undefined || flags.profile !== undefined) throw new UsageError('--region and --profile go with --stack');
    if (flags.url !== undefined && !isHttpUrl(flags.url)) throw new UsageError(`--url must be an http:// URL, such as http://127.0.0.1:3000, got "${flags.url}"`);
    const fromEnv = process.env.SYNCLINE_URL;
    if (flags.url === undefined && fromEnv && !isHttpUrl(fromEnv)) throw new UsageError(`SYNCLINE_URL must be an http:// URL, such as http://127.0.0.1:3000, got "${fromEnv}"`);
    const { LocalTarget } = await import('./local-target');
    return new LocalTarget(flags.url);
  }
  if (flags.stack.trim() === '') throw new UsageError('--stack must name a stack');
  // The AWS SDK is loaded only for stacks, so local commands start fast.
  const { openStack } = await import('./stack-target');
  return openStack({ stackName: flags.stack, region: flags.region, profile: flags.profile });
}

import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { runPull, type PullSummary } from '../core/pull/pull-run';
import type { ScheduleSource } from '../core/pull/records';
import { type AuditLog, type PullReader, type PullStateStore, telemetryOf } from '../ports';
import { auditable } from './audit-policy';
import { maskForQuarantine } from '../core/transform/raw-record';
import { boolean, issueLines, literal, object, oneOf, optional, safeParse, string, type Infer } from '../core/shape';
import type { CaptureUseCaseDeps } from './capture-deps';

/** Dependencies of the capture function of one `schedule` source. */
export interface ScheduleCaptureDeps extends CaptureUseCaseDeps {
  /** Reads the source (see `createPullReader`). */
  readonly reader: PullReader;
  /** Run state, per-key hashes and seen keys, in the state table. */
  readonly pullState: PullStateStore;
  /**
   * Milliseconds left to this invocation when there is no Lambda context (the local runtime).
   * @default the Lambda context's getRemainingTimeInMillis(), else 15 minutes
   */
  readonly remainingMs?: () => number;
  /**
   * Stop and checkpoint when less than this is left.
   * @default 60000
   */
  readonly reserveMs?: number;
  /**
   * Continues a run that stopped at the deadline in a new invocation right away (AWS: an asynchronous self-invoke).
   * @default none: the next scheduled run continues
   */
  readonly continueSoon?: (input: ScheduleCaptureInput) => Promise<void>;
  /** The deployment's hash key, when the flow masks the pull's key (core/pull/pull-keys.ts `pullKeysSealed`). */
  readonly hashKey?: () => Promise<string>;
}

const pullInput = object(
  {
    action: oneOf(['pull', 'schedule', 'continue']),
    sourceId: string({ min: 1 }),
    /** Admin override of the maxDeleteRatio guard for this run. */
    acceptDeletes: optional(boolean()),
    /** Drop an active run's progress and start over. */
    restart: optional(boolean()),
  },
  'strict',
);

/** The payloads the capture function accepts besides a plain EventBridge scheduled event. */
export type ScheduleCaptureInput = Infer<typeof pullInput>;

/** EventBridge Scheduler/rule scheduled events: the trigger carries no parameters. */
const scheduledEvent = object({ 'detail-type': literal('Scheduled Event'), source: string() }, 'loose');

export type ScheduleCaptureHandler = (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => Promise<PullSummary>;

/** Invocations of one run after which it is no longer continued right away, only by the schedule. */
const MAX_CHAINED_INVOCATIONS = 20;

/**
 * The capture function of a `schedule` source: one pull (or the continuation of one) per invocation, answering
 * with the pull summary. Source failures are reported in the summary and retried by the next run from the
 * checkpoint; our own failures (queue, state) throw, so Lambda retries the invocation and then sends its event to the
 * schedule's dead-letter queue.
 */
export function createScheduleCaptureHandler(deps: ScheduleCaptureDeps): ScheduleCaptureHandler {
  const { flow } = deps;
  const source = flow.sources.find((s): s is ScheduleSource => s.id === deps.sourceId && s.type === 'schedule');
  if (!source) throw new Error(`flow "${flow.id}" has no schedule source "${deps.sourceId}"`);
  const { clock, logger, metrics } = telemetryOf(deps);
  const audit: AuditLog = { write: (entries) => deps.audit.write(auditable(flow, entries)), lineage: (f, k) => deps.audit.lineage(f, k), archive: (e) => deps.audit.archive(e) };

  return async (event, context) => {
    const input = parseInput(event, source.id);
    if (input.sourceId !== source.id) throw new Error(`this function pulls source "${source.id}" of flow "${flow.id}", not "${input.sourceId}"`);
    const remainingMs = context?.getRemainingTimeInMillis
      ? () => context.getRemainingTimeInMillis()
      : (deps.remainingMs ?? (() => 15 * 60_000));
    const summary = await runPull(
      {
        flow,
        source,
        reader: deps.reader,
        state: deps.pullState,
        publisher: deps.publisher,
        transformQueueUrl: deps.transformQueueUrl,
        quarantine: deps.quarantine,
        audit,
        clock,
        logger,
        metrics,
        remainingMs,
        reserveMs: deps.reserveMs,
        maskRecord: (record) => maskForQuarantine(flow, record),
        owner: context?.awsRequestId ?? randomUUID(),
        hashKey: deps.hashKey,
      },
      { acceptDeletes: input.acceptDeletes, restart: input.restart },
    );
    logger.info('pull summary', { ...summary, trigger: input.action });
    const chained = summary.run?.invocations ?? 1;
    if (summary.continued && !summary.error && deps.continueSoon) {
      if (chained < MAX_CHAINED_INVOCATIONS) await deps.continueSoon({ action: 'continue', sourceId: source.id });
      else logger.warn('pull continues at the next scheduled run', { flow: flow.id, source: source.id, invocations: chained });
    }
    return summary;
  };
}

function parseInput(event: unknown, sourceId: string): ScheduleCaptureInput {
  const parsed = safeParse(pullInput, event);
  if (parsed.success) return parsed.data;
  if (safeParse(scheduledEvent, event).success) return { action: 'schedule', sourceId };
  const issues = issueLines(parsed.issues).join('; ');
  throw new Error(`not a pull request or scheduled event: expected {"action": "pull", "sourceId": "${sourceId}"} (${issues})`);
}

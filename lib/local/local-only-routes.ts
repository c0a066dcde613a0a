import type { SQSClient } from '@aws-sdk/client-sqs';
import type { FlowConfig } from '../../functions/config/schema';
import { BackfillRequestError, type BackfillHandler } from '../../functions/handlers/backfill-handler';
import { InvalidCursorError } from '../../functions/ports';
import type { SqsQueueDepths } from '../../functions/adapters/sqs-queue-depths';
import type { LocalAdminApi } from './http-server';
import { PutEventsValidationError, type LocalEventBus, type PutEventsEntry } from './event-bus';
import { redriveFlow } from './redrive';
import type { LocalResources } from './resources';
import type { LocalSchedule } from './scheduler';
import { lambdaContext } from './sqs-poller';

/** A dynamodb-stream source's backfill: what its capture function runs on a direct invoke in AWS. */
export interface LocalBackfill {
  readonly handler: BackfillHandler;
  readonly functionName: string;
  readonly timeoutSeconds: number;
}

export interface LocalOnlyRoutesDeps {
  readonly flowsById: ReadonlyMap<string, FlowConfig>;
  /** By `<flow>/<source>`. */
  readonly schedules: ReadonlyMap<string, LocalSchedule>;
  /** By `<flow>/<source>`. */
  readonly backfills: ReadonlyMap<string, LocalBackfill>;
  readonly resources: LocalResources;
  readonly sqs: SQSClient;
  readonly depths: SqsQueueDepths;
  readonly eventBus: LocalEventBus;
}

/** The admin routes only the local runtime has: pull, backfill, redrive and the local event bus. */
export function localOnlyRoutes(deps: LocalOnlyRoutesDeps): Required<Pick<LocalAdminApi, 'pull' | 'backfill' | 'redrive' | 'putEvents' | 'listEvents'>> {
  const { flowsById, schedules, backfills, resources, sqs, depths, eventBus } = deps;
  return {
    pull: async (flowId, sourceId, body) => {
      const flow = flowsById.get(flowId);
      const source = flow?.sources.find((s) => s.id === sourceId);
      if (!flow || !source) return { status: 404, body: { message: `unknown flow or source: "${flowId}/${sourceId}"` } };
      const schedule = schedules.get(`${flowId}/${sourceId}`);
      if (!schedule) return { status: 400, body: { message: `source "${sourceId}" of flow "${flowId}" is a ${source.type} source; only schedule sources can be pulled` } };
      const options = body === undefined ? {} : body;
      if (!options || typeof options !== 'object' || Array.isArray(options)) return { status: 400, body: { message: 'the body must be a JSON object such as {"acceptDeletes": true} or {"restart": true}, or empty' } };
      const { acceptDeletes, restart, ...rest } = options as Record<string, unknown>;
      if (Object.keys(rest).length > 0) return { status: 400, body: { message: `unknown field(s) ${Object.keys(rest).join(', ')} (allowed: acceptDeletes, restart)` } };
      if ((acceptDeletes !== undefined && typeof acceptDeletes !== 'boolean') || (restart !== undefined && typeof restart !== 'boolean')) {
        return { status: 400, body: { message: 'acceptDeletes and restart must be booleans' } };
      }
      const summary = await schedule.invoke({ action: 'pull', sourceId, ...(acceptDeletes !== undefined ? { acceptDeletes } : {}), ...(restart !== undefined ? { restart } : {}) });
      return { status: 200, body: summary };
    },
    backfill: async (flowId, sourceId, body) => {
      const flow = flowsById.get(flowId);
      const source = flow?.sources.find((s) => s.id === sourceId);
      if (!flow || !source) return { status: 404, body: { message: `unknown flow or source: "${flowId}/${sourceId}"` } };
      const backfill = backfills.get(`${flowId}/${sourceId}`);
      if (!backfill) return { status: 400, body: { message: `source "${sourceId}" of flow "${flowId}" is a ${source.type} source; only dynamodb-stream sources can be backfilled` } };
      try {
        // No body: the whole table at once. A chunk body: one chunk within the capture function's timeout, as in AWS.
        if (body === undefined) return { status: 200, body: await backfill.handler.all() };
        return { status: 200, body: await backfill.handler.chunk(body, lambdaContext(backfill.functionName, backfill.timeoutSeconds)) };
      } catch (err) {
        if (err instanceof BackfillRequestError || err instanceof InvalidCursorError) return { status: 400, body: { message: err.message } };
        throw err;
      }
    },
    redrive: async (flowId, body) => {
      const queues = resources.flows[flowId]?.queues;
      if (!queues) return { status: 404, body: { message: `unknown flow "${flowId}"` } };
      return redriveFlow({ flowId, queues, body, sqs, depths });
    },
    putEvents: async (body) => {
      const entries = (body as { Entries?: unknown } | undefined)?.Entries;
      if (!body || typeof body !== 'object' || !Array.isArray(entries) || entries.length === 0) {
        return { status: 400, body: { message: 'the body must be {"Entries": [{"Source", "DetailType", "Detail", "EventBusName"}, ...]} with at least one entry' } };
      }
      try {
        const result = await eventBus.putEvents(entries.map((e) => (e && typeof e === 'object' && typeof (e as { Time?: unknown }).Time === 'string' ? { ...e, Time: new Date((e as { Time: string }).Time) } : e)) as PutEventsEntry[]);
        return { status: 200, body: result };
      } catch (err) {
        if (err instanceof PutEventsValidationError) return { status: 400, body: { message: err.message } };
        throw err;
      }
    },
    listEvents: (busName) => eventBus.list(busName),
  };
}

import { answerBytes, MAX_LISTING_BYTES, OMITTED, withinAnswerSize } from './answer-size';
import type { FlowPlan } from '../plan/plan';
import type { StoreTableId } from '../plan/store-tables';
import { highestDelivered, type AuditLog, type AuditWindow, type Clock, type ConflictStore, type LogPort, type Publisher, type QuarantineItem, type QuarantineStore, type QueueDepths, type StateStore, type StoredState, type TargetItemMarkers } from '../ports';
import type { AdminApi, AdminAnswer } from './admin-api';
import { createConflictReview, withoutValues, type ReviewFlow } from './conflict-review';
import { flowStatus, type StatusQueue } from './flow-status';
import { createQuarantineReplay } from './quarantine-replay';
import { replayRecords } from './record-replay';
import { tryRecord } from './try-record';
import { taintedFields } from '../core/transform/pii-taint';
import type { CompileTransform, Transformer } from '../core/transform/transform-core';
import { flowSummary, webhookUrls } from './flow-summary';
import { recordLineage } from './record-lineage';
import { conflictsOf } from '../core/merge';
import { transformFingerprint } from '../core/transform/fingerprint';

// The flow list has its own module: the flow-list function bundles it without the admin service.
export { flowSummary } from './flow-summary';

/** A queue of a flow and its DLQ, by their deployed names (locally: the plan's names). */
export interface QueueView {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
  readonly dlq: { readonly name: string; readonly url: string; readonly arn: string };
}

/** Where a flow's resources are: names, URLs and ARNs, never secret values. */
export interface FlowResourceView {
  /** Store tables (shared by the flows of a stack), and the flow's target and source tables by id. */
  readonly tables: Readonly<Record<StoreTableId, string>> & {
    readonly targets: Readonly<Record<string, string>>;
    readonly sources: Readonly<Record<string, string>>;
  };
  readonly sources: {
    /** Buckets of `schedule` s3 sources by source id. */
    readonly buckets: Readonly<Record<string, string>>;
    /** On-failure queues of `dynamodb-stream` sources' mappings by source id. */
    readonly streamFailureQueues: Readonly<Record<string, { readonly name: string; readonly url: string; readonly arn: string }>>;
  };
  readonly buckets: {
    /** Buckets of `s3` targets by target id. */
    readonly targets: Readonly<Record<string, string>>;
    /** The claim-check bucket of messages too large for SQS (shared by the flows of a stack). */
    readonly payloads: string;
  };
  /** By queue id (`transform`, `resolve`, `deliver-<target>`, `inbound-<source>`). */
  readonly queues: Readonly<Record<string, QueueView>>;
  /** Deployed function names by plan id; the plan's name where absent. */
  readonly functions: Readonly<Record<string, string>>;
  readonly secrets: {
    /** Webhook signing secrets, one per webhook source. */
    readonly webhooks: readonly Readonly<Record<string, unknown>>[];
    /** Secrets the config names (`secretName`), with where each is read from. */
    readonly named: readonly Readonly<Record<string, unknown>>[];
  };
}

/** One flow the admin service serves: its topology (with the config) and where its resources are. */
export interface AdminFlow {
  readonly plan: FlowPlan;
  readonly resources: FlowResourceView;
}

export interface AdminServiceDeps {
  readonly flows: readonly AdminFlow[];
  /** Base URL of the HTTP API (webhook URLs are built on it); read at each request. */
  readonly baseUrl: () => string;
  readonly stateStore: Pick<StateStore, 'get' | 'getMany'>;
  /** Where DynamoDB targets record their deliveries (on the items); without it, record and lineage show the state's markers only. */
  readonly targetItems?: TargetItemMarkers;
  readonly audit: AuditLog & AuditWindow;
  readonly conflicts: ConflictStore;
  readonly quarantine: QuarantineStore;
  /** Sends resolution changes (resolve queue) and replayed records (transform queue). */
  readonly publisher: Publisher;
  readonly depths: QueueDepths;
  /** Builds a flow's transformer for `try`: a Lambda uses the JSON Schema compiled at synth, so it bundles no compiler. */
  readonly compileTransform: CompileTransform;
  /** Key of `hash` masking, for a reviewer's value (a function is called only when needed). */
  readonly hashKey: string | (() => Promise<string>);
  /** The caller of a resolve is authenticated (IAM in AWS): see ConflictReviewDeps. @default false */
  readonly authenticatedCaller?: boolean;
  readonly clock?: Clock;
  readonly logger?: LogPort;
}

/** `GET /flows/{flowId}`: the resolved config and the names or ARNs of the flow's resources. */
export function describeFlow({ plan, resources: r }: AdminFlow, baseUrl: string): Record<string, unknown> {
  return {
    id: plan.flow.id,
    config: plan.flow,
    resources: {
      tables: r.tables,
      sources: r.sources,
      buckets: r.buckets,
      queues: plan.queues.flatMap((q) => (r.queues[q.id] ? [r.queues[q.id]!] : [])),
      secrets: r.secrets,
      functions: plan.functions.map((fn) => ({
        id: fn.id,
        name: r.functions[fn.id] ?? fn.name,
        step: fn.step,
        handler: fn.handler,
        ...(fn.sourceId ? { sourceId: fn.sourceId } : {}),
        ...(fn.targetId ? { targetId: fn.targetId } : {}),
        trigger: fn.trigger,
      })),
    },
    webhooks: webhookUrls(plan, baseUrl),
  };
}

/** The queues status reports on: each flow queue with its DLQ, and stream sources' on-failure queues. */
export function statusQueues(r: FlowResourceView): StatusQueue[] {
  return [
    ...Object.values(r.queues).map((q) => ({ id: q.id, name: q.name, url: q.url, dlqUrl: q.dlq.url })),
    ...Object.entries(r.sources.streamFailureQueues).map(([sourceId, q]) => ({ id: `capture-${sourceId}-failures`, name: q.name, url: q.url })),
  ];
}

/** A quarantine item without its record, for a listing past MAX_LISTING_BYTES (the item keeps it). */
export function withoutRecord(item: QuarantineItem): QuarantineItem {
  const { record: _, ...rest } = item;
  return { ...rest, record: {}, omitted: `record ${OMITTED}` };
}

/**
 * The admin use cases over ports, for the local runtime (every flow) and for a flow's admin function in AWS
 * (its own flow). Conflict review and quarantine replay are the handlers of their own modules.
 */
export function createAdminService(deps: AdminServiceDeps): AdminApi & { listFlows(): Promise<unknown> } {
  const flows = new Map(deps.flows.map((f) => [f.plan.flow.id, f]));
  const reviewFlows = new Map<string, ReviewFlow>();
  const transformQueues = new Map<string, string>();
  const resolveReplays = new Map<string, { queueUrl: string; transform: string }>();
  for (const f of deps.flows) {
    const resolve = f.resources.queues.resolve;
    if (resolve) reviewFlows.set(f.plan.flow.id, { flow: f.plan.flow, resolveQueueUrl: resolve.url });
    if (resolve) resolveReplays.set(f.plan.flow.id, { queueUrl: resolve.url, transform: transformFingerprint(f.plan.flow) });
    const transform = f.resources.queues.transform;
    if (transform) transformQueues.set(f.plan.flow.id, transform.url);
  }
  const common = { publisher: deps.publisher, ...(deps.clock ? { clock: deps.clock } : {}), ...(deps.logger ? { logger: deps.logger } : {}) };
  const review = createConflictReview({
    ...common,
    flows: reviewFlows,
    conflicts: deps.conflicts,
    audit: deps.audit,
    hashKey: deps.hashKey,
    state: deps.stateStore,
    ...(deps.authenticatedCaller ? { authenticatedCaller: true } : {}),
  });
  const replay = createQuarantineReplay({ ...common, transformQueues, resolveReplays, quarantine: deps.quarantine });
  const statusOf = (f: AdminFlow) =>
    flowStatus(f.plan.flow.id, statusQueues(f.resources), {
      depths: deps.depths,
      audit: deps.audit,
      declaredPii: [...(f.plan.flow.pii ?? []), ...taintedFields(f.plan.flow).map((t) => t.path)],
      ...(deps.clock ? { now: () => deps.clock!.now() } : {}),
    });
  /** The key's state with each target's latest delivery, also those recorded on DynamoDB target items. */
  const stateWithTargetItems = async (flowId: string, key: string): Promise<StoredState | undefined> => {
    const [state, onItems] = await Promise.all([deps.stateStore.get(flowId, key), deps.targetItems?.get(flowId, key)]);
    return state && { ...state, delivered: highestDelivered(state.delivered, onItems) };
  };
  const unknownFlow = (flowId: string): AdminAnswer => ({ status: 404, body: { message: `unknown flow "${flowId}"` } });
  const transformers = new Map<string, Promise<Transformer>>();
  const transformerOf = (f: AdminFlow) => {
    let t = transformers.get(f.plan.flow.id);
    if (!t) {
      t = (async () => deps.compileTransform(f.plan.flow, { hashKey: typeof deps.hashKey === 'string' ? deps.hashKey : await deps.hashKey() }))();
      t.catch(() => transformers.delete(f.plan.flow.id));
      transformers.set(f.plan.flow.id, t);
    }
    return t;
  };
  const deliverQueues = (f: AdminFlow) =>
    Object.fromEntries(f.plan.flow.targets.flatMap((t) => (f.resources.queues[`deliver-${t.id}`] ? [[t.id, f.resources.queues[`deliver-${t.id}`]!.url]] : [])));

  return {
    listFlows: async () => deps.flows.map((f) => flowSummary(f.plan, deps.baseUrl())),
    getFlow: async (flowId) => {
      const f = flows.get(flowId);
      return f ? describeFlow(f, deps.baseUrl()) : undefined;
    },
    getRecord: async (flowId, key) => {
      const f = flows.get(flowId);
      if (!f) return undefined;
      const state = await stateWithTargetItems(flowId, key);
      if (!state) return undefined;
      // Under manual review, both sides of each open conflict: a conflict too large to store is listed without them.
      const held = conflictsOf(f.plan.flow, state.doc).map(({ id, field, current, incoming }) => ({ id, field, current, incoming }));
      // The record itself takes up to 4 MB of the answer; conflicts past what is left come without their values.
      const open = withinAnswerSize(held, withoutValues, Math.max(0, MAX_LISTING_BYTES - answerBytes(state.view.data)));
      return {
        flow: flowId,
        key,
        version: state.version,
        deleted: state.view.deleted,
        record: state.view.data,
        clocks: state.view.clocks,
        hash: state.view.hash,
        delivered: state.delivered,
        // The id each `http` target with `create` gave this key.
        remoteIds: Object.fromEntries(Object.entries(state.delivered).flatMap(([t, d]) => (d.remoteId ? [[t, d.remoteId]] : []))),
        ...(open.length > 0 ? { conflicts: open } : {}),
        updatedAt: state.updatedAt,
      };
    },
    lineage: async (flowId, key) => {
      if (!flows.has(flowId)) return undefined;
      const [items, state] = await Promise.all([deps.audit.lineage(flowId, key), stateWithTargetItems(flowId, key)]);
      return recordLineage(items, state);
    },
    listConflicts: (flowId, status, page) => review.list(flowId, status, page),
    resolveConflict: (flowId, conflictId, body, user) => review.resolve(flowId, conflictId, body, user),
    quarantine: async (flowId, page) => (flows.has(flowId) ? withinAnswerSize((await deps.quarantine.list(flowId, page)).items, withoutRecord) : undefined),
    replayQuarantine: (flowId, body) => replay.replay(flowId, body),
    tryRecord: async (flowId, body) => {
      const f = flows.get(flowId);
      if (!f) return unknownFlow(flowId);
      return tryRecord({ flow: f.plan.flow, transformer: () => transformerOf(f), state: deps.stateStore, now: () => (deps.clock ?? { now: Date.now }).now() }, body);
    },
    replay: async (flowId, body, user) => {
      const f = flows.get(flowId);
      if (!f) return unknownFlow(flowId);
      return replayRecords(
        { flow: f.plan.flow, deliverQueues: deliverQueues(f), state: deps.stateStore, audit: deps.audit, publisher: deps.publisher, ...(deps.authenticatedCaller ? { authenticatedCaller: true } : {}), ...(deps.clock ? { clock: deps.clock } : {}) },
        body,
        user,
      );
    },
    status: async (flowId) => {
      if (flowId === undefined) return { status: 200, body: await Promise.all(deps.flows.map(statusOf)) };
      const f = flows.get(flowId);
      return f ? { status: 200, body: await statusOf(f) } : unknownFlow(flowId);
    },
  };
}

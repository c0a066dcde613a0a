import { safeErrorText } from '../core/error-text';
import { carryProblems } from '../core/json-safety';
import { byField, requester } from './requester';
import type { FlowConfig } from '../config/schema';
import { conflictsOf, resolutionChange, REVIEW_SOURCE, type Conflict } from '../core/merge';
import { withoutSideValues } from '../core/merge/resolution';
import { maskValue } from '../core/transform/mask';
import { object, oneOf, optional, refine, safeParse, unknown } from '../core/shape';
import {
  type ConflictPage,
  noopLogger,
  systemClock,
  type AuditEntry,
  type AuditLog,
  type Clock,
  type ConflictChoice,
  type ConflictStore,
  type LogPort,
  type PublishedEvent,
  type Publisher,
  type StateStore,
  type StoredConflict,
} from '../ports';
import { auditable } from './audit-policy';
import { OMITTED, withinAnswerSize } from './answer-size';

/** Source and detail type of the event announcing a newly opened conflict. */
export const CONFLICT_EVENT_SOURCE = 'syncline';
export const CONFLICT_OPENED = 'syncline.ConflictOpened';

/**
 * The `syncline.ConflictOpened` event of a conflict: where it is and both sides with their sources and clocks.
 * Values come from the flow's state, which holds them masked, unless `withValues` is false: the flow's state may hold
 * PII unmasked, which a bus (read by whoever its rules name) must not carry.
 */
export function conflictOpenedEvent(c: Conflict, openedAt: number, withValues = true): PublishedEvent {
  const detail = {
    flow: c.flow,
    key: c.key,
    field: c.field,
    conflictId: c.id,
    openedAt,
    current: { source: c.current.source, clock: c.current.clock, value: c.current.value },
    incoming: { source: c.incoming.source, clock: c.incoming.clock, value: c.incoming.value },
  };
  if (!withValues) {
    return { source: CONFLICT_EVENT_SOURCE, detailType: CONFLICT_OPENED, detail: withoutSideValues(detail, 'values left out: the flow lets a target receive PII unmasked (allowPii); list the conflict to see them') };
  }
  const bytes = Buffer.byteLength(JSON.stringify(detail));
  if (bytes <= MAX_EVENT_VALUES_BYTES) return { source: CONFLICT_EVENT_SOURCE, detailType: CONFLICT_OPENED, detail };
  // PutEvents takes 256 KB of entries a call: the announcement goes out without the values, which the listing shows.
  return {
    source: CONFLICT_EVENT_SOURCE,
    detailType: CONFLICT_OPENED,
    detail: withoutSideValues(detail, `values left out: with them the event would be ${Math.ceil(bytes / 1024)} KB; list the conflict to see them`),
  };
}

/** The largest ConflictOpened detail sent with its values; PutEvents takes entries of up to 256 KB. */
const MAX_EVENT_VALUES_BYTES = 64 * 1024;

/** One reviewable flow: its config and the resolve queue its resolutions go to. */
export interface ReviewFlow {
  readonly flow: FlowConfig;
  readonly resolveQueueUrl: string;
}

export interface ConflictReviewDeps {
  /** Flows by id; an id not in it answers 404. */
  readonly flows: ReadonlyMap<string, ReviewFlow>;
  readonly conflicts: ConflictStore;
  readonly publisher: Publisher;
  /**
   * Per-deployment key of `hash` masking: a reviewer's value is masked like the field's records are. A function is
   * called only when a given value needs masking (in AWS it reads the key's secret).
   */
  readonly hashKey: string | (() => Promise<string>);
  /**
   * True when `user` is an authenticated caller (the IAM principal in AWS): it is who resolved, and a body `by` is
   * only noted beside it (`<caller> (as <by>)`). Otherwise a body `by` wins over `user`.
   * @default false
   */
  readonly authenticatedCaller?: boolean;
  /** Records who resolved what (a `captured` entry of source `syncline:review`, kept at audit level `all`). */
  readonly audit?: AuditLog;
  /**
   * Read before settling: a conflict whose record no longer holds it (a newer edit replaced a side) is closed as
   * superseded and answered 409, because a resolution, stamped now, would overwrite that newer edit.
   */
  readonly state?: Pick<StateStore, 'get'>;
  readonly clock?: Clock;
  readonly logger?: LogPort;
}

/** An HTTP-shaped answer: status and JSON body. */
export interface ReviewAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface ConflictReview {
  /** `GET /flows/{flowId}/conflicts[?status=open|resolved|superseded|all]`: open ones by default. */
  list(flowId: string, status?: string, page?: ConflictPage): Promise<ReviewAnswer>;
  /**
   * `POST /flows/{flowId}/conflicts/{conflictId}/resolve`: 202 with the conflict and the id of the change that
   * applies the resolution; 400 bad body, 404 unknown flow or conflict, 409 already resolved or superseded.
   */
  resolve(flowId: string, conflictId: string, body: unknown, user?: string): Promise<ReviewAnswer>;
}

const STATUSES = ['open', 'resolved', 'superseded', 'all'] as const;

/** `{"choose": "current"|"incoming"}` or `{"value": <any JSON>}`, exactly one, and an optional `by`. */
export const resolveBodySchema = refine(
  object({ choose: optional(oneOf(['current', 'incoming'])), value: unknown(), by: optional(byField(128)) }, 'strict'),
  (b) => Number(b.choose !== undefined) + Number(Object.hasOwn(b, 'value') && b.value !== undefined) === 1,
  'give exactly one of "choose" ("current" or "incoming") and "value"',
);

const problem = (status: number, message: string): ReviewAnswer => ({ status, body: { message } });

/** A conflict without its two values, for an answer past MAX_LISTING_BYTES (`syncline conflicts list --after` pages on). */
export function withoutValues<C extends Pick<Conflict, 'current' | 'incoming'>>(c: C): C & { omitted: string } {
  return withoutSideValues(c, `values ${OMITTED}`);
}

/**
 * How long a resolved conflict's change counts as on its way: the resolve queue's five receives a visibility timeout
 * apart, with room to spare. Past it the change was lost (its send or its redrive), and the field may be settled again.
 */
export const RESOLUTION_IN_FLIGHT_MS = 60 * 60_000;

/**
 * Whether a resolved sibling's change is still on its way; one past RESOLUTION_IN_FLIGHT_MS is reopened (if still
 * its resolution), so the field can be settled again.
 */
export async function resolutionInFlight(conflicts: ConflictStore, flowId: string, sibling: StoredConflict, now: number): Promise<boolean> {
  if (sibling.status !== 'resolved') return false;
  if (typeof sibling.resolvedAt === 'number' && now - sibling.resolvedAt < RESOLUTION_IN_FLIGHT_MS) return true;
  if (sibling.changeId) await conflicts.reopen(flowId, sibling.id, sibling.changeId);
  return false;
}

/** DynamoDB's limit on a sort key value, where the conflict id sits. */
const MAX_CONFLICT_ID_BYTES = 1024;

export function createConflictReview(deps: ConflictReviewDeps): ConflictReview {
  return {
    async list(flowId, status, page) {
      if (!deps.flows.has(flowId)) return problem(404, `flow "${flowId}" not found`);
      const s = status ?? 'open';
      if (!(STATUSES as readonly string[]).includes(s)) return problem(400, `status must be one of ${STATUSES.join(', ')}`);
      const listed = await deps.conflicts.list(flowId, s === 'all' ? undefined : (s as 'open' | 'resolved' | 'superseded'), page);
      return { status: 200, body: withinAnswerSize(listed, withoutValues) };
    },

    async resolve(flowId, conflictId, body, user) {
      const target = deps.flows.get(flowId);
      if (!target) return problem(404, `flow "${flowId}" not found`);
      const parsed = safeParse(resolveBodySchema, body ?? {});
      if (!parsed.success) {
        const why = parsed.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
        return problem(400, `invalid body: ${why}; e.g. {"choose": "incoming"} or {"value": "x"}`);
      }
      // A given value is checked as a captured record is: what cannot be carried exactly is refused, with its path.
      const unstorable = parsed.data.value === undefined ? [] : carryProblems({ value: parsed.data.value });
      if (unstorable.length > 0) return problem(400, `invalid body: the value cannot be carried exactly: ${unstorable.join('; ')}`);
      // An id longer than any key DynamoDB holds names no conflict (asking would answer DynamoDB's ValidationException).
      let conflict = Buffer.byteLength(conflictId, 'utf8') <= MAX_CONFLICT_ID_BYTES ? await deps.conflicts.get(flowId, conflictId) : undefined;
      if (!conflict) return problem(404, `conflict "${conflictId.length > 80 ? `${conflictId.slice(0, 80)}…` : conflictId}" of flow "${flowId}" not found`);
      const now = (deps.clock ?? systemClock).now();
      const { live, siblings } = deps.state && conflict.status !== 'superseded' ? await heldOnField(deps.state, target.flow, conflict) : { live: undefined, siblings: [] };
      // Resolved long ago and still held by the record: its change was lost, so it is reopened and may be resolved again.
      if (conflict.status === 'resolved' && live && !(await resolutionInFlight(deps.conflicts, flowId, conflict, now))) conflict = (await deps.conflicts.get(flowId, conflictId)) ?? conflict;
      if (conflict.status !== 'open') return alreadyResolved(conflict);
      if (deps.state && !live) {
        await deps.conflicts.markSuperseded(flowId, conflictId, now);
        return alreadyResolved((await deps.conflicts.get(flowId, conflictId)) ?? conflict);
      }
      // A sibling on the same field resolved but not yet merged decides the field: a second resolution would override it.
      const read = await Promise.all(siblings.map((l) => deps.conflicts.get(flowId, l.id)));
      const flags = await Promise.all(read.map((x) => (x ? resolutionInFlight(deps.conflicts, flowId, x, now) : false)));
      const inFlight = read.find((_, i) => flags[i]);
      if (inFlight) {
        return problem(409, `conflict "${inFlight.id}" on ${conflict.field} of the same record was resolved${inFlight.resolvedBy ? ` by ${inFlight.resolvedBy}` : ''} and its resolution is on its way; this one closes as superseded once it is applied`);
      }
      // A conflict stored without its values (too large for one item) takes them from the record, which holds them.
      const sides = live ? { ...conflict, current: live.current, incoming: live.incoming } : conflict;
      if (!('value' in sides.current) || !('value' in sides.incoming)) return problem(409, `conflict "${conflictId}" was stored without its values, and the record could not be read for them; try again`);

      const who = requester(deps.authenticatedCaller === true, user, parsed.data.by);
      if (!('by' in who)) return problem(who.status, who.message);
      const { by } = who;
      // A given value skips the transform, so the field's mask is applied here: state never holds it unmasked.
      const mask = target.flow.transform.mask?.[conflict.field];
      const choice: ConflictChoice =
        parsed.data.choose !== undefined
          ? { choose: parsed.data.choose }
          : { value: mask ? maskValue(mask, parsed.data.value, typeof deps.hashKey === 'string' ? deps.hashKey : await deps.hashKey()) : parsed.data.value };
      return settleConflict(deps, { target, conflict: sides, choice, by, siblings: siblings.map((l) => l.id) });
    },
  };
}

/** What settles one conflict: its flow, the conflict as read, a validated (and masked) choice, and who decided. */
export interface Settlement {
  readonly target: ReviewFlow;
  readonly conflict: StoredConflict;
  readonly choice: ConflictChoice;
  readonly by: string;
  /** Why, appended to the audit entry's reason (e.g. the rule of an automatic resolution). */
  readonly why?: string;
  /** Ids of the other conflicts the record holds on the field: none of them may be resolved when this one is. */
  readonly siblings?: readonly string[];
}

/**
 * Settles an open conflict as a reviewer does: the conditional open -> resolved transition (of two concurrent
 * settlements only one wins; the other gets 409), the resolution change sent to the flow's resolve queue (the
 * conflict is reopened and 503 answered when it cannot be), and a `captured` audit entry naming who resolved it.
 */
export async function settleConflict(deps: Pick<ConflictReviewDeps, 'conflicts' | 'publisher' | 'audit' | 'clock' | 'logger'>, s: Settlement): Promise<ReviewAnswer> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? noopLogger;
  const { target, conflict, choice, by } = s;
  const flowId = target.flow.id;
  const conflictId = conflict.id;
  if (conflict.status !== 'open') return alreadyResolved(conflict);
  const at = clock.now();
  const change = resolutionChange(conflictOf(conflict), choice, at, by);
  const resolution = { resolvedAt: at, resolvedBy: by, choice, changeId: change.id };
  // The conditional transition decides between concurrent resolutions; only the winner sends its change.
  if (!(await deps.conflicts.markResolved(flowId, conflictId, resolution, s.siblings))) {
    const now = await deps.conflicts.get(flowId, conflictId);
    // A sibling resolved since it was read, or a concurrent resolution of one holding the items.
    if (now?.status === 'open') return problem(409, `another conflict on ${conflict.field} of the same record was resolved, or being changed, at the same moment: if a resolution went through, this one closes as superseded once it is applied; if this one is still open in a minute, resolve it again`);
    return now ? alreadyResolved(now) : problem(404, `conflict "${conflictId}" of flow "${flowId}" not found`);
  }
  let failed: string[];
  try {
    ({ failed } = await deps.publisher.send(target.resolveQueueUrl, [{ id: '0', body: JSON.stringify(change) }]));
  } catch (err) {
    logger.error('resolution change not sent', { flow: flowId, conflict: conflictId, error: safeErrorText(err) });
    failed = ['0'];
  }
  if (failed.length > 0) {
    await deps.conflicts.reopen(flowId, conflictId, change.id);
    return problem(503, `the resolution of conflict "${conflictId}" could not be queued; it is still open, try again`);
  }
  const how = 'value' in choice ? 'a given value' : `the ${choice.choose} value`;
  const entry: AuditEntry = {
    flow: flowId,
    key: conflict.key,
    step: 'capture',
    at,
    source: REVIEW_SOURCE,
    eventId: change.id,
    outcome: 'captured',
    reason: `conflict ${conflictId} on ${conflict.field} resolved with ${how} by ${by}${s.why ? `: ${s.why}` : ''}`,
    detail: { conflictId, field: conflict.field, choice: 'value' in choice ? 'value' : choice.choose, by },
  };
  const kept = deps.audit ? auditable(target.flow, [entry]) : [];
  if (kept.length > 0) {
    // The change is on its way and its resolve decision is audited there: a lost entry only loses the `by` line.
    await deps.audit!.write(kept).catch((err: unknown) => logger.warn('review audit entry not written', { flow: flowId, conflict: conflictId, error: safeErrorText(err) }));
  }
  logger.info('conflict resolved', { flow: flowId, conflict: conflictId, key: conflict.key, changeId: change.id, by });
  // The values come from the record and may be megabytes: past what an answer holds, the conflict is shown without them.
  const [shown] = withinAnswerSize([{ ...conflict, status: 'resolved', ...resolution }], withoutValues);
  return { status: 202, body: { conflict: shown, changeId: change.id } };
}

/**
 * The conflict as the record still holds it open, with both values (undefined when a newer edit replaced a side), and
 * the other conflicts the record holds open on its field.
 */
async function heldOnField(state: Pick<StateStore, 'get'>, flow: FlowConfig, c: StoredConflict): Promise<{ live: Conflict | undefined; siblings: Conflict[] }> {
  const stored = await state.get(flow.id, c.key);
  const held = stored ? conflictsOf(flow, stored.doc).filter((l) => l.field === c.field) : [];
  return { live: held.find((l) => l.id === c.id), siblings: held.filter((l) => l.id !== c.id) };
}

function alreadyResolved(c: StoredConflict): ReviewAnswer {
  const who = c.resolvedBy ? ` by ${c.resolvedBy}` : '';
  const when = typeof c.resolvedAt === 'number' ? ` at ${new Date(c.resolvedAt).toISOString()}` : '';
  const why = c.status === 'superseded' ? `: a newer edit of ${c.field} replaced a side, and the record holds that edit` : '';
  return { status: 409, body: { message: `conflict "${c.id}" is already ${c.status}${who}${when}${why}`, conflict: c } };
}

/** The conflict fields of a stored item (without status and resolution). */
function conflictOf(c: StoredConflict): Conflict {
  return { id: c.id, flow: c.flow, key: c.key, field: c.field, current: c.current, incoming: c.incoming };
}

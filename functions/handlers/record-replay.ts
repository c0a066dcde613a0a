import type { FlowConfig } from '../config/schema';
import { eventId, MAX_TIME_MS } from '../core/envelope';
import { array, boolean, isoDateTime, map, number, object, optional, refine, safeParse, string, union, withDefault, type Shape } from '../core/shape';
import type { AuditEntry, AuditLog, AuditWindow, Clock, Publisher, StateStore } from '../ports';
import { systemClock } from '../ports';
import type { AdminAnswer } from './admin-api';
import { byField, requester } from './requester';
import { sourceOfVersion } from './record-lineage';
import type { DeliveryMessage } from './step-messages';

/** Keys replayed per request at most; the answer's `next` continues after the last one. */
export const REPLAY_MAX_KEYS = 200;
/** Widest `since`..`until` window of one request: one hour bucket of the audit trail's time index. */
export const REPLAY_MAX_WINDOW_MS = 3_600_000;

export interface RecordReplayDeps {
  readonly flow: FlowConfig;
  /** The deliver queue's URL of each target. */
  readonly deliverQueues: Readonly<Record<string, string>>;
  readonly state: Pick<StateStore, 'getMany'>;
  readonly audit: AuditLog & AuditWindow;
  readonly publisher: Publisher;
  /** The caller is authenticated (IAM in AWS): it is who asked, and a body's `by` is only added to it. @default false */
  readonly authenticatedCaller?: boolean;
  readonly clock?: Clock;
}

// Epoch ms up to the latest time a Date holds (past it, the audit trail's hour windows cannot be named).
const time: Shape<number> = union(number({ int: true, min: 0, max: MAX_TIME_MS }), map(isoDateTime(), (s) => Date.parse(s)));

const fields = object(
  {
    keys: optional(array(string({ min: 1 }), { min: 1, max: REPLAY_MAX_KEYS })),
    since: optional(time),
    until: optional(time),
    /** Key after which a window's selection continues (the previous answer's `next`). */
    after: optional(string()),
    targets: optional(array(string({ min: 1 }), { min: 1 })),
    dryRun: withDefault(boolean(), false),
    max: withDefault(number({ int: true, gt: 0, max: REPLAY_MAX_KEYS }), REPLAY_MAX_KEYS),
    by: optional(byField(200)),
  },
  'strict',
);
type ReplayBody = typeof fields extends Shape<infer T> ? T : never;
const rules: [(b: ReplayBody) => boolean, string, PropertyKey[]][] = [
  [(b) => (b.keys === undefined) !== (b.since === undefined), 'give "keys" or "since" (with "until"), not both', []],
  [(b) => b.since === undefined || b.until !== undefined, '"since" needs "until"', ['until']],
  [(b) => b.since === undefined || b.until! >= b.since, '"until" is before "since"', ['until']],
  [(b) => b.since === undefined || b.until! - b.since <= REPLAY_MAX_WINDOW_MS, 'at most one hour per request (the CLI splits longer windows)', ['until']],
];
const bodySchema = rules.reduce((shape, [ok, message, where]) => refine(shape, ok, message, where), fields);

export interface ReplayAnswer {
  readonly flow: string;
  readonly targets: readonly string[];
  readonly dryRun: boolean;
  /** Keys whose current state was (or, dry, would be) sent again. */
  readonly keys: readonly string[];
  /** Asked keys without state. */
  readonly notFound: readonly string[];
  /** The window's selection continues after this key (ask again with `after`). */
  readonly next?: string;
  /** By time: the earliest last-change time the audit retention still holds (windows before it select nothing). */
  readonly retainedSince?: number;
  /** How keys were selected: by key, or from the audit trail's time index (never a scan of the state table). */
  readonly selection: 'keys' | 'audit-time-index';
  /** Where the selection may miss keys, e.g. changes older than the audit retention. */
  readonly notes: readonly string[];
  readonly by?: string;
}

/** The start of the note on a window reaching past the audit retention (its cut-off moves on with the clock). */
export const RETENTION_NOTE = 'changes before ';

const problem = (status: number, message: string): AdminAnswer => ({ status, body: { message } });

/**
 * `POST /flows/{flowId}/replay`: sends the current state of chosen keys to chosen targets again, even where a
 * target's delivered marker already has that version. Keys are given, or selected by their last change in a
 * window of at most one hour, from the audit trail's hour-bucketed time index (resolve entries), each checked
 * against its state's last change time. Each replayed key gets a `replayed` audit entry naming who asked.
 */
export async function replayRecords(deps: RecordReplayDeps, body: unknown, user: string | undefined): Promise<AdminAnswer> {
  const { flow } = deps;
  const parsed = safeParse(bodySchema, body ?? {});
  if (!parsed.success) {
    const why = parsed.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
    return problem(400, `invalid replay request: ${why}; e.g. {"keys": ["42"]} or {"since": "2026-01-01T10:00:00Z", "until": "2026-01-01T11:00:00Z"}`);
  }
  const req = parsed.data;
  const unknown = (req.targets ?? []).filter((t) => !flow.targets.some((x) => x.id === t));
  if (unknown.length > 0) return problem(404, `flow "${flow.id}" has no target ${unknown.map((t) => `"${t}"`).join(', ')} (targets: ${flow.targets.map((t) => t.id).join(', ')})`);
  const targets = req.targets ?? flow.targets.map((t) => t.id);
  const who = requester(deps.authenticatedCaller === true, user, req.by);
  if (!('by' in who)) return problem(who.status, who.message);
  const { by } = who;
  const now = (deps.clock ?? systemClock).now();

  const notes: string[] = [];
  let keys: string[];
  let next: string | undefined;
  let retainedSince: number | undefined;
  if (req.keys) keys = [...new Set(req.keys)];
  else {
    if (flow.audit.level === 'errors') {
      return problem(400, `flow "${flow.id}" keeps audit level "errors", which records no changes to select by time; replay by --key, or raise audit.level`);
    }
    const since = req.since!;
    const oldest = now - flow.audit.retentionDays * 86_400_000;
    retainedSince = oldest;
    if (since < oldest) notes.push(`${RETENTION_NOTE}${new Date(oldest).toISOString()} are past the audit retention (${flow.audit.retentionDays} days) and are not selected`);
    // A window wholly past the retention holds nothing to select.
    const entries = req.until! < oldest ? [] : await deps.audit.between(flow.id, Math.max(since, oldest), req.until!);
    const candidates = [...new Set(entries.filter((e) => e.step === 'resolve' && (e.outcome === 'won' || e.outcome === 'conflict')).map((e) => e.key))]
      .filter((k) => k !== '' && (req.after === undefined || k > req.after))
      .sort();
    keys = candidates.slice(0, req.max);
    if (candidates.length > keys.length) next = keys[keys.length - 1];
  }

  const states = await deps.state.getMany(flow.id, keys);
  const notFound = req.keys ? keys.filter((k) => !states.has(k)) : [];
  // By time: the key's LAST change must lie in the window (a later change moves it to a later window).
  const chosen = keys.filter((k) => {
    const s = states.get(k);
    return s !== undefined && (req.keys !== undefined || (s.updatedAt >= req.since! && s.updatedAt <= req.until!));
  });

  if (!req.dryRun && chosen.length > 0) {
    for (const targetId of targets) {
      const url = deps.deliverQueues[targetId];
      if (!url) return problem(404, `target "${targetId}" of flow "${flow.id}" has no deliver queue here`);
      const messages = chosen.map((key) => {
        const s = states.get(key)!;
        const m: DeliveryMessage = { v: 1, flow: flow.id, key, version: s.version, ts: now, eventIds: [replayId(flow.id, key, now, by)], replay: { by, at: now } };
        return { id: key, body: JSON.stringify(m) };
      });
      const { failed } = await deps.publisher.send(url, messages);
      if (failed.length > 0) throw new Error(`could not queue ${failed.length} replay(s) for target "${targetId}"`);
    }
    // An operator's action: recorded whatever the flow's audit level.
    const entries: AuditEntry[] = chosen.map((key) => ({
      flow: flow.id,
      key,
      step: 'deliver',
      at: now,
      source: sourceOfVersion(states.get(key)!.recent ?? [], states.get(key)!.version),
      eventId: replayId(flow.id, key, now, by),
      outcome: 'replayed',
      reason: `replay to ${targets.join(', ')} asked by ${by}`,
      version: states.get(key)!.version,
      detail: { by, targets },
    }));
    await deps.audit.write(entries);
  }
  const answer: ReplayAnswer = {
    flow: flow.id,
    targets,
    dryRun: req.dryRun,
    keys: chosen,
    notFound,
    ...(next !== undefined ? { next } : {}),
    ...(retainedSince !== undefined ? { retainedSince } : {}),
    selection: req.keys ? 'keys' : 'audit-time-index',
    notes,
    ...(req.dryRun ? {} : { by }),
  };
  return { status: 200, body: answer };
}

function replayId(flow: string, key: string, at: number, by: string): string {
  return eventId(flow, key, 'replay', at, by);
}

import { canonicalJson, contentHash, eventId, type ChangeEnvelope } from '../envelope';
import type { FlowConfig } from '../../../lib/config/schema';
import { changeOf, contextOf, describe, put, sameClock } from './clock';
import { strategyOf } from './strategies';
import type { Clock, Conflict, Decision, MergeContext, MergeDoc, MergeResult, RecordView, Resolved, Strategy } from './types';

export function emptyDoc(flow: FlowConfig): MergeDoc {
  return strategyOf(flow.conflict.strategy).empty();
}

function toView(r: Resolved): RecordView {
  const clocks: Record<string, Clock> = {};
  let data: Record<string, unknown> | null = null;
  if (r.fields.size > 0) {
    data = {};
    for (const [field, e] of r.fields) {
      put(data, field, e.v);
      put(clocks, field, e.c);
    }
  }
  return { data, deleted: r.deleted, clocks, hash: contentHash(data) };
}

/** Visible record of a doc. */
export function viewOf(flow: FlowConfig, doc: MergeDoc): RecordView {
  return toView(strategyOf(doc.s).resolve(contextOf(flow), doc));
}

function conflictsFrom(ctx: MergeContext, key: string, r: Resolved): Conflict[] {
  const flow = ctx.flow.id;
  return r.open.map(({ field, current, incoming }) => ({
    id: eventId(flow, key, field, canonicalJson(current.c), canonicalJson(incoming.c)),
    flow,
    key,
    field,
    current: { value: current.v, source: current.c.src, clock: current.c },
    incoming: { value: incoming.v, source: incoming.c.src, clock: incoming.c },
  }));
}

/** Open conflicts of a doc (manual strategy; empty for the others). */
export function conflictsOf(flow: FlowConfig, doc: MergeDoc): Conflict[] {
  const ctx = contextOf(flow);
  return conflictsFrom(ctx, doc.k ?? '', strategyOf(doc.s).resolve(ctx, doc));
}

/** Rebuilds a doc under the flow's strategy when the flow switched strategy since it was written. */
function adopt(ctx: MergeContext, strategy: Strategy, doc: MergeDoc | undefined): MergeDoc {
  if (!doc) return strategy.empty();
  if (doc.s === strategy.name) return structuredClone(doc);
  const next = strategy.empty();
  for (const ch of strategyOf(doc.s).replay(doc)) strategy.apply(ctx, next, ch);
  if (doc.k !== undefined) next.k = doc.k;
  return next;
}

function decide(strategy: Strategy, ctx: MergeContext, doc: MergeDoc, before: Resolved, after: Resolved, env: ChangeEnvelope, clock: Clock): Decision {
  const ch = changeOf(env);
  if (env.op === 'upsert') {
    const parked = after.open.filter((o) => sameClock(o.incoming.c, clock));
    if (parked.length > 0) {
      const why = parked.map((o) => `${o.field} concurrent with ${describe(o.current.c)}`).join('; ');
      return { id: env.id, outcome: 'conflict', reason: `parked for review: ${why}` };
    }
    const won = [...after.fields].filter(([, e]) => sameClock(e.c, clock)).map(([f]) => f);
    if (won.length > 0) return { id: env.id, outcome: 'won', reason: `visible: ${won.join(', ')}` };
    // An empty record that lww kept as the winner.
    if (Object.keys(ch.data ?? {}).length === 0 && strategy.contains(doc, clock)) return { id: env.id, outcome: 'won', reason: 'visible: empty record' };
    return { id: env.id, outcome: 'superseded', reason: strategy.explain(ctx, doc, ch) };
  }
  const hid = [...before.fields.keys()].some((f) => !after.fields.has(f));
  if (strategy.contains(doc, clock) && (after.deleted || hid)) return { id: env.id, outcome: 'won', reason: 'deleted' };
  return { id: env.id, outcome: 'superseded', reason: strategy.explain(ctx, doc, ch) };
}

/**
 * Joins changes of one (flow, key) into its doc. The resulting doc, view and conflicts depend only on
 * the set of changes ever merged; decisions describe each change as it arrived.
 */
export function mergeChanges(flow: FlowConfig, doc: MergeDoc | undefined, changes: readonly ChangeEnvelope[]): MergeResult {
  const ctx = contextOf(flow);
  const strategy = strategyOf(flow.conflict.strategy);
  const start = doc ? toView(strategyOf(doc.s).resolve(ctx, doc)) : toView(strategy.resolve(ctx, strategy.empty()));
  const next = adopt(ctx, strategy, doc);
  let state = strategy.resolve(ctx, next);
  const decisions: Decision[] = [];
  for (const env of changes) {
    if (next.k === undefined) next.k = env.key;
    else if (env.key !== next.k) throw new Error(`change ${env.id} has key "${env.key}" but the doc holds "${next.k}"`);
    const clock = changeOf(env).clock;
    const duplicate = strategy.contains(next, clock);
    // Applied even when a duplicate: a replayed id with different content must still converge.
    strategy.apply(ctx, next, changeOf(env));
    const after = strategy.resolve(ctx, next);
    decisions.push(duplicate ? { id: env.id, outcome: 'superseded', reason: 'duplicate' } : decide(strategy, ctx, next, state, after, env, clock));
    state = after;
  }
  const view = toView(state);
  return {
    doc: next,
    view,
    changed: view.hash !== start.hash || view.deleted !== start.deleted,
    decisions,
    conflicts: conflictsFrom(ctx, next.k ?? '', state),
  };
}

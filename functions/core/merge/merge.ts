import { canonicalJson, eventId, type ChangeEnvelope } from '../envelope';
import type { FlowConfig } from '../../config/schema';
import { changeOf, contextOf, describe, jsonKind, sameClock, sameJson } from './clock';
import { put } from '../own-field';
import { applyToLog, copyLogs, explainInLog, goesToLog, logContains, replayLogs } from './source-logs';
import { strategyOf } from './strategies';
import { viewHash } from './view-hash';
import type { Change, Clock, Conflict, Decision, Entry, MergeContext, MergeDoc, MergeResult, RecordView, Resolved, SourceLog, Strategy } from './types';

export function emptyDoc(flow: FlowConfig): MergeDoc {
  return strategyOf(flow.conflict.strategy).empty();
}

function dataOf(r: Resolved): Record<string, unknown> | null {
  if (r.fields.size === 0) return null;
  const data: Record<string, unknown> = {};
  r.fields.forEach((e, field) => put(data, field, e.v));
  return data;
}

function toView(r: Resolved): RecordView {
  const clocks: Record<string, Clock> = {};
  const data: Record<string, unknown> = {};
  for (const [field, e] of r.fields) {
    if (field === '__proto__') {
      put(clocks, field, e.c);
      put(data, field, e.v);
    } else {
      clocks[field] = e.c;
      data[field] = e.v;
    }
  }
  const shown = r.fields.size === 0 ? null : data;
  return lazyHashView(shown, r.deleted, clocks, r.tomb);
}

/**
 * A view whose `hash` is worked out at first read, then kept: most views are never hashed where they are made (a
 * resolve reads each key's state and merges into it, and neither needs the hash unless an echo is checked). The
 * getter sits in the literal, so the view keeps a fast shape until it is hashed.
 */
function lazyHashView(data: Record<string, unknown> | null, deleted: boolean, clocks: Record<string, Clock>, tomb: Clock | undefined): RecordView {
  return {
    data,
    deleted,
    clocks,
    tomb,
    get hash(): string {
      const hash = viewHash(data);
      Object.defineProperty(this, 'hash', { value: hash, enumerable: true, writable: true, configurable: true });
      return hash;
    },
  };
}

/** Whether two states show the same data (the same content hash), mostly told without hashing either. */
function sameData(a: Resolved, b: Resolved, bView: RecordView): boolean {
  return a === b || (sameFields(a.fields, b.fields) ?? viewHash(dataOf(a)) === bView.hash);
}

/** Whether a field is written to the hashed text as it is (`__proto__`, undefined, NaN... are left out or rewritten). */
const plainField = (field: string, e: Entry) => field !== '__proto__' && jsonKind(e.v) !== undefined;

/**
 * Whether two field maps hash the same, or undefined when only the hashes can tell. A field written as it is on one
 * side and missing, or written differently, on the other makes the texts differ whatever the other fields hold.
 */
function sameFields(a: ReadonlyMap<string, Entry>, b: ReadonlyMap<string, Entry>): boolean | undefined {
  let unsure = false;
  for (const [field, e] of a) {
    if (!plainField(field, e)) {
      unsure = true;
      continue;
    }
    const o = b.get(field);
    if (!o) return false;
    if (o === e) continue;
    if (!plainField(field, o)) {
      unsure = true;
      continue;
    }
    const same = sameJson(e.v, o.v);
    if (same === false) return false;
    if (same === undefined) unsure = true;
  }
  for (const [field, o] of b) if (!a.has(field) && plainField(field, o)) return false;
  return unsure ? undefined : true;
}

/** A copy of a doc that merging may change (strategy containers and source logs; entries are shared). */
function copyDoc(strategy: Strategy, doc: MergeDoc): MergeDoc {
  const out = strategy.copy(doc);
  if (doc.x) out.x = copyLogs(doc.x);
  return out;
}

/** The doc the strategy resolves: its own entries joined with what each source's log holds. */
function derive(ctx: MergeContext, strategy: Strategy, doc: MergeDoc): MergeDoc {
  if (!doc.x) return doc;
  const { x, ...base } = doc;
  if (Object.keys(x).length === 0) return base as MergeDoc;
  const out = strategy.copy(base as MergeDoc);
  for (const ch of replayLogs(x, strategy.name)) strategy.apply(ctx, out, ch);
  return out;
}

/** Time of the newest change behind a view (a deleted record's: its delete), 0 when it has none: targets get it, and lag is measured from it. */
export function changeTimeOf(view: RecordView): number {
  return Math.max(0, view.tomb?.ts ?? 0, ...Object.values(view.clocks ?? {}).map((c) => c.ts));
}

/** Visible record of a doc. */
export function viewOf(flow: FlowConfig, doc: MergeDoc): RecordView {
  const ctx = contextOf(flow);
  const strategy = strategyOf(doc.s);
  return toView(strategy.resolve(ctx, derive(ctx, strategy, doc)));
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
  const strategy = strategyOf(doc.s);
  return conflictsFrom(ctx, doc.k ?? '', strategy.resolve(ctx, derive(ctx, strategy, doc)));
}

/**
 * The doc to merge into: `doc` itself when the caller hands it over, else a copy; rebuilt under the flow's strategy
 * when the flow switched strategy since it was written.
 */
function adopt(ctx: MergeContext, strategy: Strategy, doc: MergeDoc | undefined, owned: boolean): MergeDoc {
  if (!doc) return strategy.empty();
  if (doc.s === strategy.name) return owned ? doc : copyDoc(strategy, doc);
  const { x, ...base } = doc;
  const next: MergeDoc = strategy.empty();
  for (const ch of strategyOf(doc.s).replay(base as MergeDoc)) strategy.apply(ctx, next, ch);
  if (doc.k !== undefined) next.k = doc.k;
  if (x) next.x = copyLogs(x);
  return next;
}

/** Field names a reason lists at most: it is kept in the audit and the state item, which a record of thousands of (long) names would fill. */
const REASON_FIELDS = 20;
const REASON_CHARS = 1000;

/** The first names of `items` joined, within REASON_FIELDS and REASON_CHARS, saying how many more there are. */
function fewOf(items: readonly string[], sep: string): string {
  const shown: string[] = [];
  let chars = 0;
  for (const item of items) {
    if (shown.length === REASON_FIELDS || chars + item.length > REASON_CHARS) break;
    shown.push(item);
    chars += item.length + sep.length;
  }
  if (shown.length === 0) shown.push(`${items[0]!.slice(0, REASON_CHARS)}…`);
  const more = items.length - shown.length;
  return more > 0 ? `${shown.join(sep)} and ${more} more` : shown.join(sep);
}

function decide(strategy: Strategy, ctx: MergeContext, doc: MergeDoc, logs: Record<string, SourceLog> | undefined, before: Resolved, after: Resolved, env: ChangeEnvelope, ch: Change): Decision {
  const clock = ch.clock;
  const explain = () => explainInLog(ctx, logs, ch) ?? strategy.explain(ctx, doc, ch);
  if (env.op === 'upsert') {
    const parked = after.open.length === 0 ? after.open : after.open.filter((o) => sameClock(o.incoming.c, clock));
    if (parked.length > 0) {
      const why = fewOf(parked.map((o) => `${o.field} concurrent with ${describe(o.current.c)}`), '; ');
      return { id: env.id, outcome: 'conflict', reason: `parked for review: ${why}` };
    }
    const won: string[] = [];
    for (const [field, e] of after.fields) if (sameClock(e.c, clock)) won.push(field);
    if (won.length > 0) return { id: env.id, outcome: 'won', reason: `visible: ${fewOf(won, ', ')}` };
    // An empty record that lww kept as the winner.
    if (Object.keys(ch.data ?? {}).length === 0 && strategy.contains(doc, clock)) return { id: env.id, outcome: 'won', reason: 'visible: empty record' };
    return { id: env.id, outcome: 'superseded', reason: explain() };
  }
  const hid = [...before.fields.keys()].some((f) => !after.fields.has(f));
  if (strategy.contains(doc, clock) && (after.deleted || hid)) return { id: env.id, outcome: 'won', reason: 'deleted' };
  return { id: env.id, outcome: 'superseded', reason: explain() };
}

/**
 * Joins changes of one (flow, key) into its doc. The resulting doc, view and conflicts depend only on
 * the set of changes ever merged; decisions describe each change as it arrived. With `owned`, the caller hands `doc`
 * over (a doc just read from the store): it is merged into in place rather than copied.
 */
export function mergeChanges(flow: FlowConfig, doc: MergeDoc | undefined, changes: readonly ChangeEnvelope[], options: { owned?: boolean } = {}): MergeResult {
  const ctx = contextOf(flow);
  const strategy = strategyOf(flow.conflict.strategy);
  const next = adopt(ctx, strategy, doc, options.owned === true);
  let docChanged = !doc || doc.s !== strategy.name;
  let derived = derive(ctx, strategy, next);
  let state = strategy.resolve(ctx, derived);
  // What the doc showed before: the state just resolved, unless adopt rebuilt the doc under another strategy.
  const start = doc && doc.s !== strategy.name ? strategyOf(doc.s).resolve(ctx, derive(ctx, strategyOf(doc.s), doc)) : state;
  const decisions: Decision[] = [];
  for (const env of changes) {
    if (next.k === undefined) {
      next.k = env.key;
      docChanged = true;
    } else if (env.key !== next.k) throw new Error(`change ${env.id} has key "${env.key}" but the doc holds "${next.k}"`);
    const ch = changeOf(env);
    const clock = ch.clock;
    const duplicate = strategy.contains(derived, clock) || logContains(next.x, clock);
    // Applied even when a duplicate: a replayed id with different content must still converge.
    if (goesToLog(ch) ? applyToLog(ctx, (next.x ??= {}), ch) : strategy.apply(ctx, next, ch)) docChanged = true;
    derived = derive(ctx, strategy, next);
    const after = strategy.resolve(ctx, derived);
    decisions.push(duplicate ? { id: env.id, outcome: 'superseded', reason: 'duplicate' } : decide(strategy, ctx, derived, next.x, state, after, env, ch));
    state = after;
  }
  const view = toView(state);
  return {
    doc: next,
    view,
    changed: view.deleted !== start.deleted || !sameData(start, state, view),
    docChanged,
    decisions,
    conflicts: conflictsFrom(ctx, next.k ?? '', state),
  };
}

import { canonicalJson, eventId, type ChangeEnvelope } from '../envelope';
import { REVIEW_SOURCE } from './clock';
import type { Conflict } from './types';

export type ResolutionChoice = { choose: 'current' | 'incoming' } | { value: unknown };

/** Both sides of a conflict without their values, and why (`omitted`): listings, events and items too large with them. */
export function withoutSideValues<C extends Pick<Conflict, 'current' | 'incoming'>>(c: C, omitted: string): C & { omitted: string } {
  const { value: _c, ...current } = c.current;
  const { value: _i, ...incoming } = c.incoming;
  return { ...c, current: current as C['current'], incoming: incoming as C['incoming'], omitted };
}

/**
 * The change that settles a conflict: an upsert of just that field from `syncline:review`, with a ts
 * above both sides so it dominates them (the manual strategy then drops every older entry of the field).
 */
export function resolutionChange(conflict: Conflict, choice: ResolutionChoice, at: number, by: string): ChangeEnvelope {
  const value = 'value' in choice ? choice.value : choice.choose === 'current' ? conflict.current.value : conflict.incoming.value;
  const ts = Math.max(conflict.current.clock.ts, conflict.incoming.clock.ts, at) + 1;
  const how = 'value' in choice ? 'value' : choice.choose;
  return {
    v: 1,
    id: eventId(REVIEW_SOURCE, conflict.id, canonicalJson(choice), at, by),
    flow: conflict.flow,
    source: REVIEW_SOURCE,
    key: conflict.key,
    op: 'upsert',
    data: { [conflict.field]: value },
    before: { [conflict.field]: conflict.current.value },
    ts,
    seq: String(at),
    // `by` has no envelope field of its own; the lineage records who resolved it.
    lineage: [{ step: 'capture', at, outcome: `resolved ${conflict.id} (${how}) by ${by}` }],
  };
}

import type { ConflictConfig, FlowConfig } from '../../config/schema';
import { compareVersion, contextOf } from './clock';
import { cmpFieldEntry } from './priority';
import type { Clock, Conflict, Entry } from './types';

/** The strategies an open conflict can fall back to (`conflict.autoResolveWith`). */
export type AutoResolveStrategy = NonNullable<ConflictConfig['autoResolveWith']>;

/** What a fallback strategy settles a conflict with: the side it would have kept. */
export interface AutoResolveChoice {
  readonly choose: 'current' | 'incoming';
}

/** One value of a field in conflict, with the clock of the change that wrote it (a side of a conflict). */
export interface ConflictSide {
  readonly value: unknown;
  readonly clock: Clock;
}

/**
 * Of several values of one field, the one that `lww` (clock order: ts, then source order, then seq and id) or
 * `priority` (the field's source ranking from `conflict.priority`, `*` as fallback, lww within equal rank) keeps.
 * It uses the same comparisons as those strategies, so falling back gives what they would have merged.
 */
export function autoResolveWinner<S extends ConflictSide>(flow: FlowConfig, field: string, sides: readonly [S, ...S[]], using: AutoResolveStrategy): S {
  const ctx = contextOf(flow);
  const entry = (s: S): Entry => ({ v: s.value, c: s.clock });
  const beats = (a: S, b: S) => (using === 'priority' ? cmpFieldEntry(ctx, field, entry(a), entry(b)) : compareVersion(ctx, a.clock, a.value, b.clock, b.value)) > 0;
  return sides.reduce((best, s) => (beats(s, best) ? s : best));
}

/** The side of one conflict that the fallback strategy keeps. */
export function autoResolveChoice(flow: FlowConfig, conflict: Conflict, using: AutoResolveStrategy): AutoResolveChoice {
  const winner = autoResolveWinner(flow, conflict.field, [conflict.current, conflict.incoming], using);
  return { choose: winner === conflict.incoming ? 'incoming' : 'current' };
}

import type { ConflictConfig, FlowConfig } from '../../../lib/config/schema';
import { compareVersion, contextOf } from './clock';
import { cmpFieldEntry } from './priority';
import type { Conflict, Entry } from './types';

/** The strategies an open conflict can fall back to (`conflict.autoResolveWith`). */
export type AutoResolveStrategy = NonNullable<ConflictConfig['autoResolveWith']>;

/** What a fallback strategy settles a conflict with: the side it would have kept. */
export interface AutoResolveChoice {
  readonly choose: 'current' | 'incoming';
}

/**
 * The side that `lww` (clock order: ts, then source order, then seq and id) or `priority` (the field's source
 * ranking from `conflict.priority`, `*` as fallback, lww within equal rank) keeps of an open conflict. It uses the
 * same comparisons as those strategies, so falling back gives what they would have merged.
 */
export function autoResolveChoice(flow: FlowConfig, conflict: Conflict, using: AutoResolveStrategy): AutoResolveChoice {
  const ctx = contextOf(flow);
  const current: Entry = { v: conflict.current.value, c: conflict.current.clock };
  const incoming: Entry = { v: conflict.incoming.value, c: conflict.incoming.clock };
  const order = using === 'priority' ? cmpFieldEntry(ctx, conflict.field, incoming, current) : compareVersion(ctx, incoming.c, incoming.v, current.c, current.v);
  return { choose: order > 0 ? 'incoming' : 'current' };
}

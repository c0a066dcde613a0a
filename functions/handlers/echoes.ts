/** Telling syncline's own writes, come back through a source, from changes to merge. */
import type { ChangeEnvelope } from '../core/envelope';
import type { StoredState } from '../ports';
import type { ChangeGroup } from './change-group';

/**
 * Whether a change is an echo of syncline's own delivery: it carries an origin marker (set by the capture only when
 * the item still holds exactly what syncline wrote), and the content came from this flow's state, so merging it
 * could add nothing: either this flow wrote it (at a version it has reached), or the content is this flow's current
 * one or the one it last delivered to one of its targets (two flows syncing A to B and B to A). Anything else,
 * including an item edited after syncline wrote it, is merged normally, with the marker's clock as `ts`.
 */
export function isEcho(flowId: string, env: ChangeEnvelope, state: StoredState | undefined): boolean {
  const origin = env.origin;
  if (!origin || !state || env.op !== 'upsert') return false;
  if (origin.flow === flowId) return origin.version <= state.version;
  // A DynamoDB target keeps the delivered hash on its item, not in `delivered`: content equal to this flow's own is
  // an echo too.
  return origin.hash === state.view.hash || Object.values(state.delivered).some((d) => d.hash === origin.hash);
}

/** An echo taken out of its group, with its state and its own message. */
export interface Echo {
  readonly key: string;
  readonly env: ChangeEnvelope;
  readonly state: StoredState;
  readonly messageId: string;
}

/**
 * Takes the echoes out of each group: changes syncline itself wrote to a system that is also a source, come back
 * unchanged (the capture checked the item's content against its origin marker). Each leaves with its message, so
 * the group's changes and messages stay paired. A group left with no change is settled by the echo audit alone.
 */
export function dropEchoes(flowId: string, groups: Map<string, ChangeGroup>, stored: ReadonlyMap<string, StoredState>): Echo[] {
  const out: Echo[] = [];
  for (const [key, g] of groups) {
    const state = stored.get(key);
    if (!state) continue;
    const rest: ChangeGroup = { key, envelopes: [], messageIds: [] };
    g.envelopes.forEach((env, i) => {
      const messageId = g.messageIds[i]!;
      if (isEcho(flowId, env, state)) {
        out.push({ key, env, state, messageId });
      } else {
        rest.envelopes.push(env);
        rest.messageIds.push(messageId);
      }
    });
    if (rest.envelopes.length < g.envelopes.length) groups.set(key, rest);
  }
  return out;
}

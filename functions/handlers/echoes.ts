/** Telling syncline's own writes, come back through a source, from changes to merge. */
import type { ChangeEnvelope } from '../core/envelope';
import type { StoredState } from '../ports';

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

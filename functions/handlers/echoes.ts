/** Telling syncline's own writes, and a paired system's own changes, from changes to send on. */
import { canonicalJson, contentHash, type ChangeEnvelope } from '../core/envelope';
import type { RecordView } from '../core/merge';
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

/**
 * Whether the system that sent `env` holds `after` as far as it goes: its delete; or every field it sent shows its
 * value, and every other field is as it was in `before` (which that system was sent already).
 */
export function onlyChangeOf(before: RecordView | undefined, after: RecordView, env: ChangeEnvelope): boolean {
  if (after.deleted) return env.op === 'delete';
  if (env.op !== 'upsert' || !env.data) return false;
  if (contentHash(env.data) === after.hash) return true;
  if (!before?.data || before.deleted) return false;
  const sent = env.data;
  const now = after.data ?? {};
  const was = before.data;
  for (const field of Object.keys(sent)) if (!same(own(now, field), own(sent, field))) return false;
  for (const field of new Set([...Object.keys(now), ...Object.keys(was)])) {
    if (!Object.hasOwn(sent, field) && !same(own(now, field), own(was, field))) return false;
  }
  return true;
}

const own = (record: Record<string, unknown>, field: string): unknown => (Object.hasOwn(record, field) ? record[field] : undefined);
const same = (a: unknown, b: unknown): boolean => a === b || (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b));

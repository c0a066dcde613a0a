/** A batch's changes grouped by key, the unit that resolve merges, sets aside or gives up. */
import type { ChangeEnvelope } from '../core/envelope';

/** One key's changes of a batch, each with the SQS message that carries it (the i-th message the i-th change). */
export interface ChangeGroup {
  readonly key: string;
  readonly envelopes: ChangeEnvelope[];
  readonly messageIds: string[];
}

/** Adds `env`, carried by `messageId`, to its key's group in `groups`. */
export function addChange(groups: Map<string, ChangeGroup>, env: ChangeEnvelope, messageId: string): void {
  const group = groups.get(env.key) ?? { key: env.key, envelopes: [], messageIds: [] };
  group.envelopes.push(env);
  group.messageIds.push(messageId);
  groups.set(env.key, group);
}

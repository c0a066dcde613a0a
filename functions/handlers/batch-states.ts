import { isRefusedItem } from '../core/error-text';
import type { StateStore, StoredState } from '../ports';
import type { SqsBatch } from './sqs-batch';

/**
 * Reads the state of a batch's keys in one go. When DynamoDB refuses the read for what one key holds (a key it
 * cannot take), each key is read alone, so only the messages of the unreadable key fail.
 */
export async function readStates(
  batch: SqsBatch,
  stateStore: Pick<StateStore, 'getMany'>,
  flowId: string,
  groups: readonly { readonly key: string; readonly messageIds: readonly string[] }[],
): Promise<Map<string, StoredState> | undefined> {
  try {
    return await stateStore.getMany(flowId, groups.map((g) => g.key));
  } catch (err) {
    if (groups.length < 2 || !isRefusedItem(err)) {
      batch.fail(groups.flatMap((g) => g.messageIds), 'state read failed', err);
      return undefined;
    }
  }
  const out = new Map<string, StoredState>();
  for (const g of groups) {
    const one = await batch.attempt(g.messageIds, 'state read of one key failed', () => stateStore.getMany(flowId, [g.key]));
    for (const [k, v] of one ?? []) out.set(k, v);
  }
  return out;
}

import { fieldLww } from './field-lww';
import { lww } from './lww';
import { manual } from './manual';
import { priority } from './priority';
import type { MergeDoc, Strategy, StrategyName } from './types';

/** The one table of conflict strategies, by `conflict.strategy`. */
export const strategies: { readonly [N in StrategyName]: Strategy<Extract<MergeDoc, { s: N }>> } = {
  lww,
  'field-lww': fieldLww,
  priority,
  manual,
};

export function strategyOf(name: StrategyName): Strategy {
  const s = strategies[name] as Strategy | undefined;
  if (!s) throw new Error(`unknown conflict strategy "${name}"`);
  return s;
}

import type { SynclineConfig } from './schema';

/** Every `secretName` the config names (targets' and sources' credentials). */
export function namedSecrets(config: Pick<SynclineConfig, 'flows'>): string[] {
  const names = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'secretName' && typeof x === 'string') names.add(x);
        else walk(x);
      }
  };
  walk(config.flows);
  return [...names];
}

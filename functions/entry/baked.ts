import { flowSchema, type FlowConfig } from '../../lib/config/schema';

/** The flow config, injected at bundle time by esbuild `define` (CDK); never read from the environment. */
declare const __SYNCLINE_FLOW__: unknown;

/** Parses the baked flow config; throws when the bundle was built without it. */
export function bakedFlow(): FlowConfig {
  if (typeof __SYNCLINE_FLOW__ === 'undefined') throw new Error('flow config not baked: build with esbuild define __SYNCLINE_FLOW__');
  const raw = typeof __SYNCLINE_FLOW__ === 'string' ? JSON.parse(__SYNCLINE_FLOW__) : __SYNCLINE_FLOW__;
  return flowSchema.parse(raw);
}

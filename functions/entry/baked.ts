import { flowSchema, type FlowConfig } from '../config/schema';

/** The flow config, injected at bundle time by esbuild `define` (CDK); never read from the environment. */
declare const __SYNCLINE_FLOW__: unknown;

/** Parses the baked flow config; throws when the bundle was built without it. */
export function bakedFlow(): FlowConfig {
  if (typeof __SYNCLINE_FLOW__ === 'undefined') throw new Error('flow config not baked: build with esbuild define __SYNCLINE_FLOW__');
  const raw = typeof __SYNCLINE_FLOW__ === 'string' ? JSON.parse(__SYNCLINE_FLOW__) : __SYNCLINE_FLOW__;
  return flowSchema.parse(raw);
}

/** Every flow of the stack, injected at bundle time (esbuild define `__SYNCLINE_FLOWS__`) into the flow-list function. */
declare const __SYNCLINE_FLOWS__: unknown;

/** Parses the baked flow list; throws when the bundle was built without it. */
export function bakedFlows(): FlowConfig[] {
  if (typeof __SYNCLINE_FLOWS__ === 'undefined') throw new Error('flow list not baked: build with esbuild define __SYNCLINE_FLOWS__');
  const raw = typeof __SYNCLINE_FLOWS__ === 'string' ? JSON.parse(__SYNCLINE_FLOWS__) : __SYNCLINE_FLOWS__;
  return flowSchema.array().parse(raw);
}

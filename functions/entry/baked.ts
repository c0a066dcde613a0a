import type { FlowConfig } from '../config/schema';

/*
 * The flow config is baked in at synth, already parsed by the config schema (defaults applied, every check of
 * `cdk synth` passed), so a cold start only reads it: the schema and zod stay out of the bundles.
 */

/** The flow config, injected at bundle time by esbuild `define` (CDK); never read from the environment. */
declare const __SYNCLINE_FLOW__: unknown;

/** The baked flow config; throws when the bundle was built without it. */
export function bakedFlow(): FlowConfig {
  if (typeof __SYNCLINE_FLOW__ === 'undefined') throw new Error('flow config not baked: build with esbuild define __SYNCLINE_FLOW__');
  return (typeof __SYNCLINE_FLOW__ === 'string' ? JSON.parse(__SYNCLINE_FLOW__) : __SYNCLINE_FLOW__) as FlowConfig;
}

/** ajv standalone code of the flow's JSON Schema, compiled at synth (esbuild define `__SYNCLINE_SCHEMA_VALIDATOR__`). */
declare const __SYNCLINE_SCHEMA_VALIDATOR__: unknown;

/** The baked validator code of the flow's JSON Schema; throws when the flow has a schema and the bundle lacks it. */
export function bakedSchemaCode(flow: FlowConfig): string | undefined {
  const code = typeof __SYNCLINE_SCHEMA_VALIDATOR__ === 'string' ? __SYNCLINE_SCHEMA_VALIDATOR__ : undefined;
  if (flow.transform.schema && code === undefined) throw new Error('JSON Schema validator not baked: build with esbuild define __SYNCLINE_SCHEMA_VALIDATOR__');
  return code;
}

/** Every flow of the stack, injected at bundle time (esbuild define `__SYNCLINE_FLOWS__`) into the flow-list function. */
declare const __SYNCLINE_FLOWS__: unknown;

/** The baked flow list; throws when the bundle was built without it. */
export function bakedFlows(): FlowConfig[] {
  if (typeof __SYNCLINE_FLOWS__ === 'undefined') throw new Error('flow list not baked: build with esbuild define __SYNCLINE_FLOWS__');
  return (typeof __SYNCLINE_FLOWS__ === 'string' ? JSON.parse(__SYNCLINE_FLOWS__) : __SYNCLINE_FLOWS__) as FlowConfig[];
}

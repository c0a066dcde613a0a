import type { FlowConfig } from '../config/schema';
import { precompiledValidator } from '../core/transform/precompiled-schema';
import { buildTransform, type CompileTransform } from '../core/transform/transform-core';
import { bakedSchemaCode } from './baked';

/**
 * Builds the flow's transformer with its JSON Schema compiled at synth, so the function bundles no schema compiler.
 * Apart from baked.ts, which every function imports, so that only the transform and admin functions bundle JSONata.
 */
export function bakedCompileTransform(flow: FlowConfig): CompileTransform {
  const code = bakedSchemaCode(flow);
  const validate = code === undefined ? undefined : precompiledValidator(code);
  return (f, ctx) => buildTransform(f, ctx, validate);
}

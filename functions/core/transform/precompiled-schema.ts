import { fullFormats } from 'ajv-formats/dist/formats';
import equal from 'ajv/dist/runtime/equal';
import ucs2length from 'ajv/dist/runtime/ucs2length';
import ValidationError from 'ajv/dist/runtime/validation_error';
import type { SchemaValidator } from './transform-core';

/**
 * What ajv's standalone code requires at run time, instead of ajv itself. Its URI resolver (`ajv/dist/runtime/uri`,
 * 18 KB of fast-uri) resolves `$id`s and `$ref`s while compiling, at synth; the generated code does not require it.
 */
const RUNTIME: Readonly<Record<string, unknown>> = {
  'ajv/dist/runtime/equal': { default: equal },
  'ajv/dist/runtime/ucs2length': { default: ucs2length },
  'ajv/dist/runtime/validation_error': { default: ValidationError },
  'ajv-formats/dist/formats': { fullFormats },
};

/**
 * The validator in ajv standalone code (CommonJS), which synth generates from the flow's JSON Schema: the function
 * runs it without bundling ajv's compiler. The code is ajv's own output, evaluated as ajv evaluates what it compiles.
 */
export function precompiledValidator(code: string): SchemaValidator {
  const module = { exports: {} as unknown };
  const require = (id: string): unknown => {
    if (!Object.hasOwn(RUNTIME, id)) throw new Error(`the precompiled JSON Schema validator needs ${id}, which the function does not bundle`);
    return RUNTIME[id];
  };
  new Function('require', 'module', 'exports', code)(require, module, module.exports);
  return module.exports as SchemaValidator;
}

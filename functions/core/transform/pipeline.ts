import jsonata from 'jsonata';
import { validatePattern } from '../event-pattern';
import { messageOf } from '../errors';
import { unknownFunctions } from './jsonata-calls';
import { compileSchema } from './json-schema';
import { buildTransform, describeJsonataError, type TransformContext, type TransformedFlow, type Transformer } from './transform-core';

export { piiLeaks } from './pii-taint';
export { buildTransform, type Transformer, type TransformResult } from './transform-core';

/**
 * Compiles a flow's transform, its JSON Schema with ajv here (a Lambda transform gets its schema compiled at synth).
 * Throws when the transform config is invalid (run `validateTransform` at synth time to report it earlier).
 */
export function compileTransform(flow: TransformedFlow, ctx: TransformContext): Transformer {
  const problems = validateTransform(flow);
  if (problems.length > 0) throw new Error(`invalid transform: ${problems.join('; ')}`);
  return buildTransform(flow, ctx, flow.transform.schema ? compileSchema(flow.transform.schema) : undefined);
}

/** Why an expression that calls these names fails on every record. */
export function callsUnknown(names: readonly string[]): string {
  return `calls ${names.join(', ')}, which no JSONata function is (https://docs.jsonata.org/overview), so every record would fail there`;
}

/** A config object's property as a JSON path step: `.name`, or `["full name"]` for a name that is no identifier (or holds a dot). */
export function pathStep(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/**
 * Checks a flow's transform without running it: JSONata syntax, event pattern, JSON Schema.
 * Each message starts with its JSON path, e.g. `transform.compute.fullName: ...`.
 */
export function validateTransform(flow: Pick<TransformedFlow, 'transform'>): string[] {
  const t = flow.transform;
  const problems: string[] = [];
  for (const [field, source] of Object.entries(t.compute ?? {})) {
    try {
      const unknown = unknownFunctions(jsonata(source).ast());
      if (unknown.length > 0) problems.push(`transform.compute${pathStep(field)}: ${callsUnknown(unknown)}`);
    } catch (err) {
      problems.push(`transform.compute${pathStep(field)}: invalid JSONata expression ${JSON.stringify(source)}: ${describeJsonataError(err, true)}`);
    }
  }
  if (t.filter) {
    for (const p of validatePattern(t.filter)) {
      const m = /^([^:]+): (.*)$/s.exec(p);
      problems.push(m ? `transform.filter.${m[1]}: ${m[2]}` : `transform.filter: ${p}`);
    }
  }
  if (t.schema) {
    try {
      compileSchema(t.schema);
    } catch (err) {
      problems.push(`transform.schema: invalid JSON Schema: ${messageOf(err)}`);
    }
  }
  const renamedTo = new Map<string, string>();
  for (const [from, to] of Object.entries(t.rename ?? {})) {
    const other = renamedTo.get(to);
    if (other !== undefined) problems.push(`transform.rename${pathStep(from)}: renames to "${to}" like "${other}" does`);
    renamedTo.set(to, from);
  }
  // A field inside a moved field would be moved twice, and end up inside itself when its new place is in the other's.
  const froms = Object.keys(t.rename ?? {});
  for (const from of froms) {
    const outer = froms.find((o) => from.startsWith(`${o}.`));
    if (outer !== undefined) problems.push(`transform.rename${pathStep(from)}: is inside "${outer}", which is renamed too: rename one of them`);
  }
  return problems;
}

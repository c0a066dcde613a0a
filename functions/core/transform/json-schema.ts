import Ajv, { type Options } from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** The ajv instance of a transform's JSON Schema: its draft (2020-12, 2019-09, else draft-07), all errors, formats. */
export function schemaAjv(schema: Record<string, unknown>, extra: Options = {}): Ajv {
  const draft = typeof schema.$schema === 'string' ? schema.$schema : '';
  const options: Options = { allErrors: true, strict: false, ...extra };
  const ajv = draft.includes('2020-12') ? new Ajv2020(options) : draft.includes('2019-09') ? new Ajv2019(options) : new Ajv(options);
  addFormats(ajv);
  return ajv;
}

export function compileSchema(schema: Record<string, unknown>) {
  return schemaAjv(schema).compile(schema);
}

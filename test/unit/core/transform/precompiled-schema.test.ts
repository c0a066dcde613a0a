import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../../../functions/core/transform/json-schema';
import { precompiledValidator } from '../../../../functions/core/transform/precompiled-schema';
import { buildTransform, compileTransform } from '../../../../functions/core/transform/pipeline';
import { precompiledSchemaCode } from '../../../../lib/constructs/function-bundling';

const SCHEMAS: Record<string, Record<string, unknown>> = {
  'draft 2020-12, formats': {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    required: ['id', 'email'],
    properties: { id: { type: 'string', minLength: 2 }, email: { type: 'string', format: 'email' }, site: { type: 'string', format: 'uri' }, at: { type: 'string', format: 'date-time' } },
    unevaluatedProperties: false,
  },
  'draft 2019-09': { $schema: 'https://json-schema.org/draft/2019-09/schema', type: 'object', properties: { tags: { type: 'array', uniqueItems: true, items: { enum: ['a', 'b'] } } }, unevaluatedProperties: false },
  // References resolved by URI: ajv resolves them while compiling, so the generated code needs no URI resolver.
  'draft 2020-12, $id and references': {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://schemas.example/contact',
    type: 'object',
    properties: { id: { $ref: '#/$defs/id' }, owner: { $ref: 'https://schemas.example/person' }, tags: { $ref: '#tags' } },
    $defs: {
      id: { type: 'string', minLength: 2 },
      person: { $id: 'https://schemas.example/person', type: 'object', required: ['email'], properties: { email: { type: 'string', format: 'email' } } },
      tags: { $anchor: 'tags', type: 'array', items: { type: 'string' }, uniqueItems: true },
    },
  },
  'draft-07': { type: 'object', properties: { age: { type: 'integer', minimum: 0 }, kind: { const: 'x' } }, additionalProperties: false },
};

const RECORDS: Record<string, unknown>[] = [
  { id: 'c1', email: 'a@example.com', site: 'https://x.example/a', at: '2026-01-01T00:00:00Z' },
  { id: 'c', email: 'nope', site: 'not a uri', at: 'yesterday', extra: 1 },
  { tags: ['a', 'a', 'c'], age: -1, kind: 'y', other: true },
  { id: '😀', email: 'b@example.com' },
  { id: 'c2', owner: { email: 'nope' }, tags: ['a', 'a'] },
  { id: 'c3', owner: { email: 'o@example.com' }, tags: ['a', 'b'] },
];

describe('JSON Schema compiled at synth', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`validates as ajv compiled at run time does (${name})`, () => {
      // Prepare
      const atRunTime = compileSchema(schema);
      const atSynth = precompiledValidator(precompiledSchemaCode(schema));

      for (const record of RECORDS) {
        // Act
        const expected = [atRunTime(record), atRunTime.errors ?? null];
        const actual = [atSynth(record), atSynth.errors ?? null];

        // Assess
        expect(actual).toEqual(expected);
      }
    });
  }

  it('quarantines the records compileTransform quarantines, with the same errors', async () => {
    // Prepare
    const flow = { id: 'people', key: ['id'], transform: { detectPii: 'off' as const, computeTimeoutMs: 250, schema: SCHEMAS['draft 2020-12, formats']! } };
    const compiled = compileTransform(flow, { hashKey: 'k' });
    const built = buildTransform(flow, { hashKey: 'k' }, precompiledValidator(precompiledSchemaCode(flow.transform.schema)));

    // Act
    const results = await Promise.all(RECORDS.map(async (r) => [await compiled.apply(r, 'upsert'), await built.apply(r, 'upsert')]));

    // Assess
    for (const [a, b] of results) expect(b).toEqual(a);
    expect(results[1]![0]).toMatchObject({ status: 'quarantined', reason: 'schema validation failed' });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flowSchema, type FlowConfig, type MaskKind } from '../../../../functions/config/schema';
import { getPath, keyOf } from '../../../../functions/core/envelope';
import { detectPii, maskValue, REDACTED } from '../../../../functions/core/transform/mask';
import { compileTransform, validateTransform } from '../../../../functions/core/transform/pipeline';

const ctx = { hashKey: 'test-hash-key' };
type Rec = Record<string, unknown>;

// A few names at a few depths, so paths meet, nest in each other and miss often.
const PATHS = ['a', 'b', 'c', 'a.b', 'a.c', 'b.a', 'c.a.b', 'a.b.c'];
const path = fc.constantFrom(...PATHS);
// Objects made afresh for each use: a record parsed from JSON shares nothing.
const leaf = fc.oneof(
  fc.constantFrom<unknown>(1, 'x', null, true, 'ada@example.com'),
  fc.constant(0).map((): unknown => [1, 'y']),
  fc.constant(0).map((): unknown => ({ z: 2 })),
);
const tree: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.dictionary(fc.constantFrom('a', 'b', 'c', 'z'), tie('node'), { maxKeys: 3 })),
})).node;
// Some keys look like PII, so detectPii "mask" hashes the key field of those records.
const record = fc
  .tuple(fc.constantFrom('k-1', 'ada.key@example.com'), fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), tree, { maxKeys: 4 }))
  .map(([id, r]) => ({ id, ...r }));

const transform = fc.record(
  {
    include: fc.uniqueArray(path, { maxLength: 4 }).map((p) => [...p, 'id']),
    exclude: fc.uniqueArray(path, { maxLength: 3 }),
    rename: fc.dictionary(path, path, { maxKeys: 3 }),
    set: fc.dictionary(path, leaf, { maxKeys: 2 }),
    mask: fc.dictionary(path, fc.constantFrom<MaskKind>('redact', 'last4', 'hash'), { maxKeys: 2 }),
    detectPii: fc.constantFrom('off', 'flag', 'mask'),
  },
  { requiredKeys: ['detectPii'] },
);

function flowWith(t: Rec): FlowConfig {
  return flowSchema.parse({ id: 'cow', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], transform: t, targets: [{ id: 'out', type: 'dynamodb' }] });
}

/** The shaping steps as plain in-place edits of a whole clone: what the copy-on-write transform must match. */
function reference(t: FlowConfig['transform'], input: Rec): { record: Rec; piiFlagged?: string[] } {
  const setPath = (r: Rec, p: string, v: unknown) => {
    const parts = p.split('.');
    let cur: Rec = r;
    for (const part of parts.slice(0, -1)) {
      const next = cur[part];
      if (next === null || typeof next !== 'object') cur[part] = {};
      cur = cur[part] as Rec;
    }
    cur[parts[parts.length - 1]!] = v;
  };
  const deletePath = (r: Rec, p: string) => {
    const parts = p.split('.');
    let cur: unknown = r;
    for (const part of parts.slice(0, -1)) {
      if (cur === null || typeof cur !== 'object') return;
      cur = (cur as Rec)[part];
    }
    if (cur !== null && typeof cur === 'object') delete (cur as Rec)[parts[parts.length - 1]!];
  };
  let r: Rec = structuredClone(input);
  if (t.include) {
    const kept: Rec = {};
    for (const p of t.include) if (getPath(r, p) !== undefined) setPath(kept, p, getPath(r, p));
    r = kept;
  }
  for (const p of t.exclude ?? []) deletePath(r, p);
  const rename = Object.entries(t.rename ?? {});
  const moved: [string, unknown][] = [];
  for (const [from, to] of rename) if (getPath(r, from) !== undefined) moved.push([to, getPath(r, from)]);
  for (const [from] of rename) deletePath(r, from);
  for (const [to, v] of moved) setPath(r, to, v);
  for (const [p, v] of Object.entries(t.set ?? {})) setPath(r, p, structuredClone(v));
  const mask = Object.entries(t.mask ?? {});
  for (const [p, kind] of mask) if (getPath(r, p) !== undefined) setPath(r, p, maskValue(kind, getPath(r, p), ctx.hashKey));
  if (t.detectPii === 'off') return { record: r };
  const found = detectPii(r, new Set(mask.map(([p]) => p)));
  // The key field (`id`) is hashed rather than redacted, so records that look alike keep their own keys.
  if (t.detectPii === 'mask') for (const p of found) setPath(r, p, p === 'id' ? maskValue('hash', getPath(r, p), ctx.hashKey) : REDACTED);
  return found.length > 0 ? { record: r, piiFlagged: found } : { record: r };
}

describe('compileTransform: shaping without cloning the input', () => {
  it('gives what in-place edits of a clone give, field order included, and never changes its input', async () => {
    await fc.assert(
      fc.asyncProperty(transform, record, async (t, input) => {
        const flow = flowWith(t);
        fc.pre(validateTransform(flow).length === 0);
        const snapshot = structuredClone(input);
        const expected = reference(flow.transform, structuredClone(input));

        const result = await compileTransform(flow, ctx).apply(input, 'upsert');

        expect(input).toEqual(snapshot);
        if (keyOf(expected.record, ['id']) === undefined) return;
        expect(result.status).toBe('passed');
        if (result.status !== 'passed') return;
        expect(JSON.stringify(result.record)).toBe(JSON.stringify(expected.record));
        expect(result.piiFlagged).toEqual(expected.piiFlagged);
      }),
      { numRuns: 1500 },
    );
  });

  it('leaves nested fields it does not change shared, and copies the ones it writes', async () => {
    // Prepare
    const flow = flowWith({ mask: { 'contact.phone': 'last4' } });
    const input = { id: 'c-1', address: { city: 'London' }, contact: { phone: '+44 20 7946 0000' } };

    // Act
    const result = await compileTransform(flow, ctx).apply(input, 'upsert');

    // Assess
    if (result.status !== 'passed') throw new Error(result.status);
    expect(result.record.address).toBe(input.address);
    expect(result.record.contact).toEqual({ phone: '************0000' });
    expect(input.contact.phone).toBe('+44 20 7946 0000');
  });
});

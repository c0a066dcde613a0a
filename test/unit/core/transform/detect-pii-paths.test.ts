import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectPii, looksLikePii } from '../../../../functions/core/transform/mask';

/** The plain walk, a path text per value: the reference the walk under test must agree with. */
function reference(record: Record<string, unknown>, skip: ReadonlySet<string>): string[] {
  const found: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (skip.has(path)) return;
    if (typeof value === 'string') {
      if (path && looksLikePii(value)) found.push(path);
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (i in value) walk(value[i], path ? `${path}.${i}` : String(i));
    } else if (value && typeof value === 'object') {
      for (const k of Object.keys(value)) walk((value as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    }
  };
  walk(record, '');
  return found;
}

const KEYS = ['a', 'b', 'email', '', 'a.b', '0', '1'];
const pii = fc.constantFrom('ada@kernel.dev', '+1 415 555 0100', '123-45-6789', '4111 1111 1111 1111', 'GB82 WEST 1234 5698 7654 32', 'plain text', 'x', '');
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    pii,
    fc.integer(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 }),
  ),
}));
const record = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 5 });
const skip = fc.uniqueArray(fc.constantFrom('a', 'email', 'a.b', 'a.email', 'b.0', '0', '.a', 'a..b', '', 'a.b.email', 'b'), { maxLength: 4 }).map((s) => new Set(s));

describe('detectPii paths', () => {
  it('reports the same paths as a walk that builds every path, whatever is skipped', () => {
    // Prepare / Act / Assess
    fc.assert(
      fc.property(record, skip, (r, s) => {
        expect(detectPii(r, s)).toEqual(reference(r, s));
      }),
      { numRuns: 3000 },
    );
  });

  it('skips a masked field and what lies in it', () => {
    // Prepare
    const record = { email: 'ada@kernel.dev', contact: { email: 'bob@kernel.dev', phone: '+1 415 555 0100' }, list: ['c@kernel.dev'] };
    // Act
    const found = detectPii(record, new Set(['email', 'contact.phone']));
    // Assess
    expect(found).toEqual(['contact.email', 'list.0']);
  });
});

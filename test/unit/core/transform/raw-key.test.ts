import { describe, expect, it } from 'vitest';
import { flowSchema } from '../../../../functions/config/schema';
import { pullKeyFields } from '../../../../functions/core/pull/records';
import { captureKeys, keyUntouchedByTransform, rawKeyPaths, rawKeyReader } from '../../../../functions/core/transform/raw-record';

const flowWith = (transform: Record<string, unknown>, key = ['tenant', 'id']) =>
  flowSchema.parse({ id: 'f', key, sources: [{ id: 's', type: 'webhook' }], transform, targets: [{ id: 't', type: 'dynamodb', keyAttribute: 'pk' }] });

describe('the key of a record before the transform', () => {
  it('reads each key field where it sits before a rename moves it, or as it is', () => {
    expect(rawKeyPaths(flowWith({}))).toEqual(['tenant', 'id']);
    expect(rawKeyPaths(flowWith({ rename: { contact_id: 'id' } }))).toEqual(['tenant', 'contact_id']);
    expect(rawKeyPaths(flowWith({ rename: { org: 'account' } }, ['account.id']))).toEqual(['org.id']);
    expect(rawKeyReader(flowWith({ rename: { contact_id: 'id' } }))({ tenant: 't1', contact_id: 42 })).toBe('t1#42');
  });

  it('cannot tell it when the transform makes or changes a key value, or renames a key field away', () => {
    expect(rawKeyPaths(flowWith({ set: { tenant: 'acme' } }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ compute: { id: '$string(n)' } }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ mask: { id: 'hash' } }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ detectPii: 'mask' }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ rename: { id: 'legacyId' } }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ exclude: ['contact_id'], rename: { contact_id: 'id' } }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ include: ['tenant', 'name'] }))).toBeUndefined();
    expect(rawKeyPaths(flowWith({ include: ['tenant', 'contact_id'], rename: { contact_id: 'id' } }))).toEqual(['tenant', 'contact_id']);
    expect(rawKeyReader(flowWith({ set: { tenant: 'acme' } }))({ tenant: 't1', id: 1 })).toBe('');
  });

  it('takes the raw key for the record\'s key only when the transform keeps the key fields as they are', () => {
    expect(keyUntouchedByTransform(flowWith({}))).toBe(true);
    expect(keyUntouchedByTransform(flowWith({ exclude: ['id'] }))).toBe(false);
    expect(keyUntouchedByTransform(flowWith({ include: ['tenant'] }))).toBe(false);
    expect(keyUntouchedByTransform(flowWith({ rename: { contact_id: 'id' } }))).toBe(false);
  });

  it('gives a capture the record\'s key only when the transform keeps it, and the audit key through renames either way', () => {
    const plain = captureKeys(flowWith({}));
    expect(plain).toMatchObject({ readsKey: true, paths: ['tenant', 'id'] });
    expect(plain.keyOf({ tenant: 't1', id: 7 })).toBe('t1#7');
    expect(plain.keyOf({ tenant: 't1' })).toBe('');
    const renamed = captureKeys(flowWith({ rename: { contact_id: 'id' } }));
    expect(renamed).toMatchObject({ readsKey: false, paths: ['tenant', 'contact_id'] });
    expect(renamed.keyOf({ tenant: 't1', contact_id: 7 })).toBe('');
    expect(renamed.auditKeyOf({ tenant: 't1', contact_id: 7 })).toBe('t1#7');
    // The transform makes the key: no raw field holds it, a delete keeps the key fields by their own names exact.
    const made = captureKeys(flowWith({ compute: { id: '$string(n)' } }));
    expect(made).toMatchObject({ readsKey: false, paths: ['tenant', 'id'] });
    expect(made.auditKeyOf({ tenant: 't1', id: 7 })).toBe('');
  });

  it('identifies a pulled record by the raw fields of its key, through a rename of the object that holds it', () => {
    const source = { id: 'crm', type: 'schedule', every: '1 hour', http: { url: 'https://crm.example/contacts' } };
    const flow = (transform: Record<string, unknown>, key: string[], extra: Record<string, unknown> = {}) =>
      flowSchema.parse({ id: 'f', key, sources: [{ ...source, ...extra }], transform, targets: [{ id: 't', type: 'dynamodb' }] });
    const pulled = (f: ReturnType<typeof flow>) => pullKeyFields(f, f.sources[0] as Parameters<typeof pullKeyFields>[1]);
    expect(pulled(flow({ rename: { org: 'account' } }, ['account.id']))).toEqual(['org.id']);
    expect(pulled(flow({ rename: { contact_id: 'id' } }, ['id']))).toEqual(['contact_id']);
    expect(pulled(flow({ compute: { id: '$string(n)' } }, ['id']))).toEqual(['id']);
    expect(pulled(flow({}, ['id'], { keyFields: ['Id'] }))).toEqual(['Id']);
  });
});

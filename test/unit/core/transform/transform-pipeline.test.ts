import { describe, expect, it } from 'vitest';
import { flowSchema, type FlowConfig } from '../../../../functions/config/schema';
import { maskValue } from '../../../../functions/core/transform/mask';
import { compileTransform, validateTransform, type TransformResult } from '../../../../functions/core/transform/pipeline';

const ctx = { hashKey: 'test-hash-key' };

function flowWith(transform: Record<string, unknown>, key: string[] = ['id']): FlowConfig {
  return flowSchema.parse({
    id: 'contacts',
    key,
    sources: [{ id: 'crm', type: 'webhook' }],
    transform,
    targets: [{ id: 'out', type: 'dynamodb', keyAttribute: 'pk' }],
  });
}

function expectStatus<S extends TransformResult['status']>(result: TransformResult, status: S): Extract<TransformResult, { status: S }> {
  expect(result.status, JSON.stringify(result)).toBe(status);
  return result as Extract<TransformResult, { status: S }>;
}

describe('compileTransform: shaping records', () => {
  it('applies include, exclude, rename, set and compute in that order', async () => {
    // Prepare
    const flow = flowWith({
      include: ['id', 'first', 'last', 'address.city', 'internal'],
      exclude: ['internal'],
      rename: { first: 'firstName', last: 'lastName' },
      set: { origin: 'crm', lastName: 'overridden-by-set' },
      compute: { fullName: 'firstName & " " & lastName', upperCity: '$uppercase(address.city)' },
    });
    const input = { id: 'c-1', first: 'Ada', last: 'Lovelace', address: { city: 'London', zip: 'N1' }, internal: 'x', dropped: true };

    // Act
    const result = await compileTransform(flow, ctx).apply(input, 'upsert');

    // Assess
    const passed = expectStatus(result, 'passed');
    expect(passed.key).toBe('c-1');
    expect(passed.record).toEqual({
      id: 'c-1',
      firstName: 'Ada',
      lastName: 'overridden-by-set',
      address: { city: 'London' },
      origin: 'crm',
      fullName: 'Ada overridden-by-set',
      upperCity: 'LONDON',
    });
  });

  it('renames fields all at once, so two fields can swap names', async () => {
    // Prepare
    const flow = flowWith({ rename: { a: 'b', b: 'a' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 1, a: 'was a', b: 'was b' }, 'upsert');

    // Assess
    expect(expectStatus(result, 'passed').record).toEqual({ id: 1, a: 'was b', b: 'was a' });
  });

  it('lets a compute use fields computed before it, and drops a field whose expression yields nothing', async () => {
    // Prepare
    const flow = flowWith({ compute: { total: 'price * qty', withTax: 'total * 1.5', missing: 'nope.nothing' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'o-1', price: 10, qty: 2, missing: 'old' }, 'upsert');

    // Assess
    expect(expectStatus(result, 'passed').record).toEqual({ id: 'o-1', price: 10, qty: 2, total: 20, withTax: 30 });
  });

  it('does not modify the record it is given', async () => {
    // Prepare
    const flow = flowWith({ exclude: ['secret'], rename: { name: 'fullName' }, mask: { email: 'email' }, compute: { n: '1' } });
    const input = { id: 'c-1', name: 'Ada', email: 'ada@example.com', secret: 's', nested: { a: 1 } };
    const snapshot = structuredClone(input);

    // Act
    await compileTransform(flow, ctx).apply(input, 'upsert');

    // Assess
    expect(input).toEqual(snapshot);
  });

  it('derives a composite key from several fields after the transform', async () => {
    // Prepare
    const flow = flowWith({ rename: { tenant_id: 'tenant' } }, ['tenant', 'id']);

    // Act
    const result = await compileTransform(flow, ctx).apply({ tenant_id: 't1', id: 42 }, 'upsert');

    // Assess
    expect(expectStatus(result, 'passed').key).toBe('t1#42');
  });
});

describe('compileTransform: compute under a per-field merge', () => {
  const flowWithStrategy = (strategy: string) =>
    flowSchema.parse({
      id: 'contacts',
      key: ['id'],
      sources: [{ id: 'crm', type: 'webhook' }],
      transform: { compute: { fullName: "$trim(firstName & ' ' & lastName)", city: 'address.city ? $uppercase(address.city) : "none"', fields: '$count($keys($))', tag: '"v2"' } },
      conflict: { strategy, ...(strategy === 'priority' ? { priority: { '*': ['crm'] } } : {}) },
      targets: [{ id: 'out', type: 'dynamodb' }],
    });

  it.each(['field-lww', 'priority', 'manual'])('leaves out, under %s, a compute whose inputs the record carries none of, so the merge keeps the stored value', async (strategy) => {
    // Act
    const result = expectStatus(await compileTransform(flowWithStrategy(strategy), ctx).apply({ id: 'c-1', email: 'ada@example.org' }, 'upsert'), 'passed');

    // Assess: fullName and city read only absent fields; a whole-record read and a constant are computed as always.
    expect(result.record).toEqual({ id: 'c-1', email: 'ada@example.org', fields: 2, tag: 'v2' });
  });

  it('computes from the inputs the record carries, a nested read counting its top-level field', async () => {
    const result = expectStatus(await compileTransform(flowWithStrategy('field-lww'), ctx).apply({ id: 'c-1', lastName: 'Hopper', address: { zip: 'N1' } }, 'upsert'), 'passed');
    expect(result.record).toMatchObject({ fullName: 'Hopper', city: 'none' });
  });

  it('computes every field under lww, where a record replaces the whole state', async () => {
    const result = expectStatus(await compileTransform(flowWithStrategy('lww'), ctx).apply({ id: 'c-1', email: 'ada@example.org' }, 'upsert'), 'passed');
    expect(result.record).toMatchObject({ fullName: '', tag: 'v2' });
  });
});

describe('compileTransform: compute failures', () => {
  it('quarantines a record whose expression fails, naming the field and the expression', async () => {
    // Prepare
    const flow = flowWith({ compute: { score: '$number(rating) * 2' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1', rating: 'five stars' }, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toContain('compute "score"');
    expect(q.reason).toContain('$number(rating) * 2');
    expect(q.original).toEqual({ id: 'c-1', rating: 'five stars' });
  });

  it('quarantines an expression that never terminates instead of hanging', async () => {
    // Prepare
    const flow = flowWith({ computeTimeoutMs: 50, compute: { loop: '($f := function($x){ $f($x) }; $f(1))' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1' }, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toMatch(/compute "loop" failed \(expression .*\): timed out after 50 ms/);
  });

  it('quarantines an expression doing too much work within its time limit', async () => {
    // Prepare
    const flow = flowWith({ computeTimeoutMs: 50, compute: { big: '$sum($map([1..10000000], function($v){ $v * 2 }))' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1' }, 'upsert');

    // Assess
    expect(expectStatus(result, 'quarantined').reason).toMatch(/compute "big" failed .*: timed out/);
  });

  it('quarantines runaway non-tail recursion', async () => {
    // Prepare
    const flow = flowWith({ compute: { deep: '($f := function($x){ 1 + $f($x) }; $f(1))' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1' }, 'upsert');

    // Assess
    expect(expectStatus(result, 'quarantined').reason).toContain('compute "deep" failed');
  });

  it('quarantines a compute that gives Infinity or NaN (a division by zero) instead of passing it on as null', async () => {
    // Prepare: one expression gives a number, the other a list holding one.
    const flow = flowWith({ compute: { ratio: 'a / b' } });
    const listFlow = flowWith({ compute: { ratios: '[a / b, 1]' } });
    const zero = { id: 1, a: 1, b: 0 };

    // Act
    const [single, nested, fine] = await Promise.all([
      compileTransform(flow, ctx).apply(zero, 'upsert'),
      compileTransform(listFlow, ctx).apply({ ...zero, a: 0 }, 'upsert'),
      compileTransform(listFlow, ctx).apply({ id: 3, a: 1, b: 4 }, 'upsert'),
    ]);

    // Assess
    expect(expectStatus(single, 'quarantined').reason).toMatch(/^compute "ratio" failed .*: D1001: the expression gave a number that is not finite/);
    expect(expectStatus(nested, 'quarantined').reason).toMatch(/^compute "ratios" failed .*: D1001/);
    expect(expectStatus(fine, 'passed').record).toMatchObject({ ratios: [0.25, 1] });
  });

  it('leaves the error text readable when the value it quotes is one letter, and still hides a short value', async () => {
    // Act
    const letter = await compileTransform(flowWith({ compute: { twice: 'a * 2' } }), ctx).apply({ id: 1, a: 'e' }, 'upsert');
    const short = await compileTransform(flowWith({ mask: { age: 'redact' }, compute: { young: 'age < "x"' } }), ctx).apply({ id: 2, age: 42 }, 'upsert');

    // Assess
    expect(expectStatus(letter, 'quarantined').reason).toContain('The left side of the "*" operator must evaluate to a number');
    expect(expectStatus(short, 'quarantined').reason).toContain('The values <value> and <value> either side');
  });

  it('keeps a masked value out of the error text even when JSONata quotes it', async () => {
    // Prepare
    const flow = flowWith({ mask: { ssn: 'redact' }, compute: { negated: '-ssn' } });
    const ssn = '078-05-1120';

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1', ssn }, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toContain('compute "negated"');
    expect(JSON.stringify(q)).not.toContain(ssn);
    expect(q.original.ssn).toBe('[REDACTED]');
  });

  it.each([
    // T2009 quotes both operands: the masked value is the second one, or a value derived from it
    ['the second operand', { mask: { contact: 'hash' }, compute: { adult: '18 < contact' } }, 'contact', 'Zq7nick@example.com', 'Zq7nick@example.com'],
    ['a value derived from it', { mask: { name: 'hash' }, compute: { adult: '18 < $uppercase(name)' } }, 'name', 'Zq7nick', 'ZQ7NICK'],
    ['a value found by detectPii', { detectPii: 'mask', compute: { adult: '18 < contact' } }, 'contact', 'Zq7nick@example.com', 'Zq7nick@example.com'],
    // JSON escapes the quote inside the value where JSONata quotes it
    ['a value holding a quote', { mask: { name: 'redact' }, compute: { n: '-name' } }, 'name', 'O"Zq7nick', 'Zq7nick'],
  ])('keeps %s out of the error text of a failed compute', async (_what, transform, field, value, leak) => {
    // Act
    const result = await compileTransform(flowWith(transform), ctx).apply({ id: 'c-1', [field]: value }, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toMatch(/^compute "\w+" failed/);
    expect(JSON.stringify(q)).not.toContain(leak);
  });

  it('keeps the message of $error when it is a literal of the expression, and leaves out one built from record values', async () => {
    // Prepare
    const built = flowWith({ mask: { email: 'redact' }, compute: { check: '$contains(email, "@example.") ? $error("test address " & $uppercase(email)) : "ok"' } });
    const literal = flowWith({ mask: { email: 'redact' }, compute: { check: '$exists(name) ? "ok" : $error("name is missing")' } });

    // Act
    const b = expectStatus(await compileTransform(built, ctx).apply({ id: 'c-1', email: 'zq7@example.org', name: 'Ada' }, 'upsert'), 'quarantined');
    const l = expectStatus(await compileTransform(literal, ctx).apply({ id: 'c-2', email: 'zq7@corp.io' }, 'upsert'), 'quarantined');

    // Assess
    expect(JSON.stringify(b)).not.toMatch(/zq7@example\.org/i);
    expect(b.reason).toContain('D3137: message left out');
    expect(l.reason).toContain('D3137: name is missing');
  });

  it('leaves out an $error message that only appears inside a longer literal', async () => {
    // Act
    const flow = flowWith({ mask: { ssn: 'redact' }, compute: { check: '($digits := "0123456789"; $error($substring(ssn, 0, 2)))' } });
    const q = expectStatus(await compileTransform(flow, ctx).apply({ id: 'c-1', ssn: '123-45-6789' }, 'upsert'), 'quarantined');

    // Assess
    expect(q.reason).toContain('message left out');
  });

  it('leaves out an $error message chosen among literals by a record value', async () => {
    // Act
    const flow = flowWith({ mask: { ssn: 'redact' }, compute: { check: '$error($lookup({"1": "one", "2": "two"}, $substring(ssn, 0, 1)))' } });
    const q = expectStatus(await compileTransform(flow, ctx).apply({ id: 'c-1', ssn: '123-45-6789' }, 'upsert'), 'quarantined');

    // Assess
    expect(q.reason).toContain('message left out');
  });

  it('quarantines a compute whose error quotes an object without a prototype, instead of throwing', async () => {
    // Act
    const flow = flowWith({ compute: { up: '$uppercase(kind = "o" ? {"a": name} : name)' } });
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1', kind: 'o', name: 'Ada' }, 'upsert');

    // Assess
    expect(expectStatus(result, 'quarantined').reason).toMatch(/^compute "up" failed/);
  });
});

describe('compileTransform: filter', () => {
  it('filters records that do not match the event pattern, after compute', async () => {
    // Prepare
    const pattern = { tier: ['gold'], status: [{ 'anything-but': 'deleted' }] };
    const flow = flowWith({ compute: { tier: 'spend > 1000 ? "gold" : "silver"' }, filter: pattern });
    const transformer = compileTransform(flow, ctx);

    // Act
    const gold = await transformer.apply({ id: 'a', spend: 5000, status: 'active' }, 'upsert');
    const silver = await transformer.apply({ id: 'b', spend: 10, status: 'active' }, 'upsert');

    // Assess
    expect(expectStatus(gold, 'passed').record.tier).toBe('gold');
    expect(expectStatus(silver, 'filtered')).toEqual({ status: 'filtered', key: 'b', pattern });
  });

  it('filters a delete that does not match, too', async () => {
    // Prepare
    const flow = flowWith({ filter: { region: ['eu'] } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'x', region: 'us' }, 'delete');

    // Assess
    expect(result.status).toBe('filtered');
  });
});

describe('compileTransform: masking', () => {
  it('masks each configured field by its kind', async () => {
    // Prepare
    const flow = flowWith({ mask: { email: 'email', card: 'last4', ssn: 'redact', customerRef: 'hash', 'address.street': 'redact' } });
    const input = { id: 'c-1', email: 'ada@example.com', card: '4111111111111111', ssn: '078-05-1120', customerRef: 'R-77', address: { street: '1 Main St', city: 'Paris' } };

    // Act
    const result = await compileTransform(flow, ctx).apply(input, 'upsert');

    // Assess
    expect(expectStatus(result, 'passed').record).toEqual({
      id: 'c-1',
      email: '****@example.com',
      card: '************1111',
      ssn: '[REDACTED]',
      customerRef: maskValue('hash', 'R-77', ctx.hashKey),
      address: { street: '[REDACTED]', city: 'Paris' },
    });
  });

  it('keys on the hashed value when a key field is hashed, so records still join', async () => {
    // Prepare
    const flow = flowWith({ mask: { email: 'hash' } }, ['email']);
    const transformer = compileTransform(flow, ctx);

    // Act
    const first = await transformer.apply({ email: 'ada@example.com', v: 1 }, 'upsert');
    const second = await transformer.apply({ email: 'ada@example.com', v: 2 }, 'upsert');

    // Assess
    const key = expectStatus(first, 'passed').key;
    expect(key).toMatch(/^hmac:[0-9a-f]{64}$/);
    expect(expectStatus(second, 'passed').key).toBe(key);
  });

  it('detectPii "flag" reports PII fields and leaves them as they are', async () => {
    // Prepare
    const flow = flowWith({ detectPii: 'flag', mask: { email: 'email' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1', email: 'ada@example.com', notes: 'call +1 415 555 0100', backup: 'bob@example.org' }, 'upsert');

    // Assess
    const passed = expectStatus(result, 'passed');
    expect(passed.piiFlagged).toEqual(['backup']);
    expect(passed.record.backup).toBe('bob@example.org');
    expect(passed.record.email).toBe('****@example.com');
  });

  it('detectPii "mask" redacts PII found in fields nobody listed', async () => {
    // Prepare
    const flow = flowWith({ detectPii: 'mask' });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1', comment: 'my card is 4111-1111-1111-1111', city: 'Oslo' }, 'upsert');

    // Assess
    const passed = expectStatus(result, 'passed');
    expect(passed.record).toEqual({ id: 'c-1', comment: '[REDACTED]', city: 'Oslo' });
    expect(passed.piiFlagged).toEqual(['comment']);
  });

  it('a key field masked with hash keeps its hash as the key of a filtered record and of one whose compute failed, never the raw value', async () => {
    // Prepare: no detectPii; the declared mask alone hides the e-mail address.
    const flow = flowWith({ mask: { email: 'hash' }, filter: { status: ['active'] }, compute: { n: '$number(v)' } }, ['email']);
    const t = compileTransform(flow, ctx);
    const hashed = maskValue('hash', 'alice@example.com', ctx.hashKey);

    // Act
    const filtered = await t.apply({ email: 'alice@example.com', status: 'gone', v: '1' }, 'upsert');
    const failed = await t.apply({ email: 'alice@example.com', status: 'active', v: 'x' }, 'upsert');

    // Assess: the audit entry of either carries this key.
    expect(filtered).toMatchObject({ status: 'filtered', key: hashed });
    expect(expectStatus(failed, 'quarantined').key).toBe(hashed);
  });

  it('detectPii "mask" redacts a card number held as a JSON number, but leaves a numeric key field as it is', async () => {
    // Prepare: records keyed by a number that passes for a Visa number.
    const t = compileTransform(flowWith({ detectPii: 'mask' }), ctx);

    // Act
    const result = await t.apply({ id: 4111111111111111, card: 4111111111111111, qty: 2 }, 'upsert');

    // Assess: the key a flow already holds such records under stays.
    const passed = expectStatus(result, 'passed');
    expect(passed.key).toBe('4111111111111111');
    expect(passed.record).toEqual({ id: 4111111111111111, card: '[REDACTED]', qty: 2 });
  });

  it('detectPii "mask" hashes a key field that looks like PII, so two such records keep two keys, even when filtered', async () => {
    // Prepare
    const flow = flowWith({ detectPii: 'mask', filter: { status: ['active'] } }, ['email']);
    const t = compileTransform(flow, ctx);

    // Act
    const [dave, erin, filtered] = await Promise.all([
      t.apply({ email: 'dave.key@corp.example', status: 'active' }, 'upsert'),
      t.apply({ email: 'erin.key@corp.example', status: 'active' }, 'upsert'),
      t.apply({ email: 'dave.key@corp.example', status: 'gone' }, 'upsert'),
    ]);

    // Assess
    const [a, b] = [expectStatus(dave, 'passed'), expectStatus(erin, 'passed')];
    expect(a.key).toBe(maskValue('hash', 'dave.key@corp.example', ctx.hashKey));
    expect(b.key).toBe(maskValue('hash', 'erin.key@corp.example', ctx.hashKey));
    expect(a.record.email).toBe(a.key);
    expect(filtered).toMatchObject({ status: 'filtered', key: a.key });
  });

  it('detectPii "mask" hashes a key field in a quarantined copy too (under its input name), so its replay keeps its key', async () => {
    // Prepare
    const flow = flowWith({ detectPii: 'mask', rename: { mail: 'email' }, schema: { type: 'object', required: ['name'] } }, ['email']);
    const t = compileTransform(flow, ctx);

    // Act
    const refused = await t.apply({ mail: 'dave.key@corp.example' }, 'upsert');
    const q = expectStatus(refused, 'quarantined');
    const replayed = await t.apply({ ...q.original, name: 'Dave' }, 'upsert');

    // Assess
    const hashed = maskValue('hash', 'dave.key@corp.example', ctx.hashKey);
    expect(q.key).toBe(hashed);
    expect(q.original.mail).toBe(hashed);
    expect(expectStatus(replayed, 'passed').key).toBe(hashed);
  });

  it('masks a quarantined original under its pre-rename name as well', async () => {
    // Prepare
    const flow = flowWith({ rename: { mail: 'email' }, mask: { email: 'email', phone: 'redact' }, schema: { type: 'object', required: ['name'] } });
    const input = { id: 'c-1', mail: 'ada@example.com', phone: '+44 20 7946 0958' };

    // Act
    const result = await compileTransform(flow, ctx).apply(input, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.original).toEqual({ id: 'c-1', mail: '****@example.com', phone: '[REDACTED]' });
    expect(JSON.stringify(q)).not.toContain('ada@');
    expect(JSON.stringify(q)).not.toContain('7946');
  });
});

describe('compileTransform: schema and key', () => {
  const schema = {
    type: 'object',
    required: ['id', 'email', 'age'],
    properties: {
      id: { type: 'string' },
      email: { type: 'string', format: 'email' },
      age: { type: 'integer', minimum: 0 },
      kind: { enum: ['person', 'company'] },
    },
  };

  it('passes a record that satisfies the JSON Schema', async () => {
    // Prepare
    const flow = flowWith({ schema });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'c-1', email: 'ada@example.com', age: 36 }, 'upsert');

    // Assess
    expect(result.status).toBe('passed');
  });

  it('quarantines an invalid record with every error, readable and free of the data', async () => {
    // Prepare
    const flow = flowWith({ schema });
    const input = { id: 'c-1', email: 'not-an-email-secret', age: -4, kind: 'robot-secret' };

    // Act
    const result = await compileTransform(flow, ctx).apply(input, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toBe('schema validation failed');
    expect(q.key).toBe('c-1');
    expect(q.errors).toEqual(['/email must match format "email"', '/age must be >= 0', '/kind must be equal to one of the allowed values']);
    expect(q.errors.join(' ')).not.toContain('secret');
  });

  it('supports draft 2020-12 schemas', async () => {
    // Prepare
    const flow = flowWith({
      schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] } } },
    });

    // Act
    const result = await compileTransform(flow, ctx).apply({ id: 'p', pair: [1, 'x'] }, 'upsert');

    // Assess
    expect(expectStatus(result, 'quarantined').errors).toEqual(['/pair/0 must be string', '/pair/1 must be number']);
  });

  it('quarantines a record without its key field', async () => {
    // Prepare
    const flow = flowWith({}, ['tenant', 'id']);

    // Act
    const result = await compileTransform(flow, ctx).apply({ tenant: 't1', name: 'no id' }, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toBe('missing key field "id"');
    expect(q.original).toEqual({ tenant: 't1', name: 'no id' });
  });

  it('quarantines a record whose key field holds "#", which would give it the key of another record, and keys one "#" in a one-field key', async () => {
    // Prepare
    const transform = compileTransform(flowWith({}, ['tenant', 'id']), ctx);

    // Act
    const ambiguous = await transform.apply({ tenant: 'a#b', id: 'c' }, 'upsert');
    const other = await transform.apply({ tenant: 'a', id: 'b#c' }, 'upsert');
    const single = await compileTransform(flowWith({}, ['id']), ctx).apply({ id: 'b#c' }, 'upsert');

    // Assess: "a#b" + "c" and "a" + "b#c" would both be a#b#c.
    expect(expectStatus(ambiguous, 'quarantined').reason).toBe('key field "tenant" holds "#", which joins the key fields, so the key would name other records too: replace it in the transform');
    expect(expectStatus(other, 'quarantined').reason).toContain('key field "id" holds "#"');
    expect(expectStatus(single, 'passed').key).toBe('b#c');
  });

  it('skips the schema for a delete and returns its key', async () => {
    // Prepare
    const flow = flowWith({ schema, rename: { contact_id: 'id' } });

    // Act
    const result = await compileTransform(flow, ctx).apply({ contact_id: 'c-9' }, 'delete');

    // Assess
    const passed = expectStatus(result, 'passed');
    expect(passed.key).toBe('c-9');
    expect(passed.record).toEqual({ id: 'c-9' });
  });
});

describe('validateTransform', () => {
  it('accepts a valid transform', () => {
    // Prepare
    const flow = flowWith({ compute: { a: 'b & c' }, filter: { x: [{ prefix: 'y' }] }, schema: { type: 'object' } });

    // Act
    const problems = validateTransform(flow);

    // Assess
    expect(problems).toEqual([]);
  });

  it('reports bad JSONata, event patterns and JSON Schemas with their JSON paths', () => {
    // Prepare
    const flow = flowWith({
      compute: { fullName: 'first & (last', ok: '1 + 1' },
      filter: { status: 'active', detail: { n: [{ numeric: ['>', 'x'] }] } },
      schema: { type: 'strin' },
    });

    // Act
    const problems = validateTransform(flow);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^transform\.compute\.fullName: invalid JSONata expression "first & \(last": /),
      expect.stringMatching(/^transform\.filter\.status: must be an array/),
      expect.stringMatching(/^transform\.filter\.detail\.n\[0\]\.numeric\[1\]: must be a number/),
      expect.stringMatching(/^transform\.schema: invalid JSON Schema: /),
    ]);
  });

  it('makes compileTransform refuse an invalid transform', () => {
    // Prepare
    const flow = flowWith({ compute: { x: '$$$(' } });

    // Act
    const compile = () => compileTransform(flow, ctx);

    // Assess
    expect(compile).toThrow(/transform\.compute\.x/);
  });
});

describe('compileTransform: records no store can hold exactly', () => {
  it('quarantines a record from any source whose values DynamoDB would refuse, with every reason, and a storable original', async () => {
    // Prepare: what a JSON.parse upstream leaves of such a record.
    const transformer = compileTransform(flowWith({}), ctx);

    // Act
    const result = await transformer.apply({ id: 'a', '': 1, big: 2 ** 60, tiny: 5e-324 }, 'upsert');

    // Assess
    const q = expectStatus(result, 'quarantined');
    expect(q.reason).toBe('record cannot be carried exactly: $ has a field with an empty name, which DynamoDB cannot store');
    expect(q.errors).toEqual([
      '$ has a field with an empty name, which DynamoDB cannot store',
      'number at $.big is beyond 2^53, where JSON numbers lose digits; send it as a string',
      'number at $.tiny is outside the range DynamoDB stores (1e-130 to 1e126)',
    ]);
    expect(q.original).toEqual({ id: 'a', '(empty)': 1, big: String(2 ** 60), tiny: '5e-324' });
  });

  it('quarantines a key that, with the flow id and "#", passes the 1024 bytes an index sort key holds, with its size', async () => {
    // Flow "contacts": 1024 - 8 - 1 = 1015 bytes at most.
    const transform = compileTransform(flowWith({}), ctx);
    expectStatus(await transform.apply({ id: 'k'.repeat(1015) }, 'upsert'), 'passed');
    expect(expectStatus(await transform.apply({ id: 'k'.repeat(1016) }, 'upsert'), 'quarantined').reason).toBe(
      'key is 1016 bytes; the longest key flow "contacts" carries is 1015 bytes (1024 with the flow id and "#")',
    );
    expect(expectStatus(await transform.apply({ id: 'é'.repeat(508) }, 'upsert'), 'quarantined').reason).toMatch(/^key is 1016 bytes/);
  });

  it('quarantines a key that UTF-8 or a URL path cannot name: a lone surrogate (two of them would be one key in DynamoDB), "." or ".."', async () => {
    const transform = compileTransform(flowWith({}), ctx);
    for (const id of ['a\ud800', '\udc00', '\ud83d\ude00\ud800']) expect(expectStatus(await transform.apply({ id }, 'upsert'), 'quarantined').reason).toMatch(/^key holds a lone UTF-16 surrogate/);
    for (const id of ['.', '..']) expect(expectStatus(await transform.apply({ id }, 'upsert'), 'quarantined').reason).toBe(`key "${id}" cannot be named in a URL path`);
    // Paired surrogates (emoji) and dots within a key are keys like any other.
    for (const id of ['\ud83d\ude00', '...', 'a.b', '.x']) expect((await transform.apply({ id }, 'upsert')).status).toBe('passed');
  });

  it("quarantines a key that would share the audit partition of syncline's own entries (status windows, pull runs)", async () => {
    const transform = compileTransform(flowWith({}), ctx);
    expect(expectStatus(await transform.apply({ id: '~window#2026-12-07T23' }, 'upsert'), 'quarantined').reason).toBe('key starts with "~window#", which syncline\'s audit trail keeps for its own entries');
    expect(expectStatus(await transform.apply({ id: '~pull/nightly' }, 'upsert'), 'quarantined').reason).toMatch(/^key starts with "~pull\/"/);
    for (const id of ['~window', '~pull', 'a~window#x']) expect((await transform.apply({ id }, 'upsert')).status).toBe('passed');
  });
});

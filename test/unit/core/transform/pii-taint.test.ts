import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { validateFlowsDeep } from '../../../../lib/config/deep-validate';
import { parseConfig } from '../../../../lib/config/load';
import { jsonataReads } from '../../../../functions/core/transform/jsonata-reads';
import { piiLeaks, taintedFields } from '../../../../functions/core/transform/pii-taint';
import { compileTransform } from '../../../../functions/core/transform/pipeline';
import { maskForQuarantine } from '../../../../functions/core/transform/raw-record';

type FlowInput = Record<string, unknown>;

function flowOf(overrides: FlowInput) {
  return parseConfig({
    flows: [{ id: 'people', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], targets: [{ id: 'replica', type: 'dynamodb' }], ...overrides }],
  }).flows[0]!;
}

const routes = (overrides: FlowInput) => piiLeaks(flowOf(overrides)).map((l) => l.route);
const reads = (expr: string) => {
  const r = jsonataReads(expr);
  return r.whole ? '$' : [...r.paths].sort().join(',');
};

describe('fields a JSONata expression reads', () => {
  it.each([
    ['paths', 'address.city & " " & zip', 'address.city,zip'],
    ['a string key (backticks)', '`national id`', 'national id'],
    ['functions of fields', '$uppercase($substring(ssn, 0, 3))', 'ssn'],
    ['$ alone reads the whole record', '$', '$'],
    ['$string($) reads the whole record', '$string($)', '$'],
    ['$$ reads the whole record', '$$', '$'],
    ['wildcards read the whole record', '*', '$'],
    ['descendants read the whole record', '**.email', '$'],
    ['$.field and $$.field read that field', '$.email & $$.phone', 'email,phone'],
    ['$lookup with a literal key reads that key', '$lookup($, "email")', 'email'],
    ['$lookup on a field reads inside it', '$lookup(contact, "email")', 'contact.email'],
    ['$lookup with a computed key reads the whole object', '$lookup($, "e" & "mail")', '$'],
    ['a variable carries what it was bound to', '($x := email; $lowercase($x))', 'email'],
    ['a variable bound but unused adds nothing', '($x := email; "constant")', ''],
    ['a lambda called inline reads its arguments', 'function($v){ $uppercase($v) }(name)', 'name'],
    ['a lambda reads the fields in its body', '($f := function($v){ $v & ssn }; $f(name))', 'name,ssn'],
    ['higher-order functions read the array they walk', '$map(contacts, function($c){ $c.email })', 'contacts'],
    ['$sift over the record reads it whole', '$sift($, function($v, $k){ $k != "ssn" })', '$'],
    ['predicates read the array and, through $$, the root', 'items[owner = $$.userId].name', 'items,userId'],
    ['conditions read every branch and the test', 'vip ? email : phone', 'email,phone,vip'],
    ['object constructors read their values', '{"mail": email}', 'email'],
    ['~> passes its left side along', 'email ~> $lowercase()', 'email'],
    ['$exists and $count carry no value', '$exists(ssn) and $count(phones) > 0', ''],
    ['literals read nothing', '"fixed" & 42', ''],
    // Built-ins that take the context when their first argument is left out, at the root: the record.
    ['$string() reads the record', '$string()', '$'],
    ['$lookup with only a key reads the record', '$lookup("email")', '$'],
    ['$spread() reads the record', '$spread()', '$'],
    ['$each with only a function reads the record', '$each(function($v){ $v })', '$'],
    ['$sift with only a function reads the record', '$sift(function($v, $k){ $k = "email" })', '$'],
    ['$eval reads what its text names', '$eval("email")', '$'],
    ['the parent operator reads its field under the record and each value on the way', 'items.%.email', 'email,items,items.email'],
    ['the parent operator alone may be the record', "items.{'o': %}", '$'],
    ['string functions given their argument read only it', '$string(age) & $lookup(contact, "email")', 'age,contact.email'],
    ['$clone() reads the record', '$clone()', '$'],
    // A built-in held in a variable may be called where the context is the record.
    ['$string in a variable', '($s := $string; $s())', '$'],
    ['$lookup in a variable', '($l := $lookup; $l("email"))', '$'],
    ['$eval in a variable', '($e := $eval; $e("email"))', '$'],
    ['$clone passed to a lambda', 'function($f){ $f() }($clone)', '$'],
    ['$count rebound to $spread', '($count := $spread; $count())', '$'],
    // `%` below the first step climbs back towards the record: its field under every value on the way.
    ['% inside an object constructor of a step', "address.{'city': city, 'who': %.email}", 'address,address.email,email'],
    ['% inside a parenthesised step', 'address.(%.email)', 'address,address.email,email'],
    ['%.% in a nested constructor', "orders.{'x': lines.{'o': %.%.email}}", 'email,orders,orders.email'],
    ['a predicate on % may read the record', 'items.%[ssn = "x"].id', '$'],
    ['% in a predicate', "items[%.active].sku", 'active,items,items.active'],
    ['$eval below the root', 'address.$eval("$$.email")', '$'],
    // Bindings anywhere, read from anywhere.
    ['a closure reading a variable bound after it', '($fmt := function(){ $e }; $e := email; $fmt())', 'email'],
    ['a recursive function reading a later binding', '($f := function($n){ $n = 0 ? $x : $f($n - 1) }; $x := email; $f(1))', 'email'],
    ['a binding inside a condition', '(true ? $x := email : 0; $x)', 'email'],
    ['a chained binding', '($y := $x := email; $x)', 'email'],
    ['a binding inside an argument', '($x := "a"; $string($x := email); $x)', 'email'],
    ['a binding inside an object constructor', '($a := {"k": $x := email}; $x)', 'email'],
    ['a function returning a closure over its argument', '($g := function($v){ function(){ $v } }; $h := $g(email); $h())', 'email'],
    // A built-in handed to a higher-order built-in is called with the items it walks, never with the record.
    ['$map with a built-in reads the array it walks', '$map(tags, $string)', 'tags'],
    ['$filter with a built-in reads the array it walks', '$filter(flags, $boolean)', 'flags'],
    ['a variable re-bound through $lookup', '($x := address; $x := $lookup($x, "city"); $x)', 'address'],
    ['~> gives a built-in its first argument, not the record', 'amount ~> $string()', 'amount'],
    ['$lookup off the root reads the context it is in', '(contacts[$x := $lookup(info, "k")]; $x)', 'contacts'],
  ])('%s: %s', (_name, expr, expected) => {
    expect(reads(expr)).toBe(expected);
  });
});

describe('an expression whose result carries a field reads it (JSONata evaluates each)', () => {
  const record = { id: 'c-1', email: 'ada@example.org', pin: '4821', address: { city: 'Oslo' }, list: [{ n: 1 }], orders: [{ note: 'ada@example.org', lines: [{ sku: 's' }] }] };
  it.each([
    // The context a focus (`@`) leaves, and `$` bound off the root, are read where they are used.
    ['id@$i.email', 'email'],
    ['id@$i.$string()', 'email'],
    ['(email[$t := $]; $t)', 'email'],
    ['(email.$string($t := $); $t)', 'email'],
    ['(list.{"a": $t := $$}; $t.email)', 'email'],
    // $lookup narrows only a plain reference; $count carries a value it is given to compute.
    ['$string($lookup({"k": $$}, "k"))', 'email'],
    ['$count([1..$number(pin)])', 'pin'],
    // Predicates and group-by after any expression; $lookup inside a predicate; $eval handed to $map.
    ['[1]{"k": $$.email}', 'email'],
    // The parent operator, at any depth: what it climbs to is read.
    ["orders.lines.{'o': %.%.email}", 'email'],
    ["orders.{'x': lines.{'o': %.%.email}}", 'email'],
    ["orders.lines.{'o': %.note}", 'orders.note'],
    ["($v := orders; $v.lines.{'o': %.note})", 'orders.note'],
    ["orders#$i.lines.{'o': %.note}", 'orders.note'],
    ['orders.lines.[%.note]', 'orders.note'],
    ['([1][$x := $$.email]; $x)', 'email'],
    ['$map(["$$.email"], $eval)', 'email'],
  ] as const)('%s (field %s)', async (expr, field) => {
    const result = JSON.stringify(await jsonata(expr).evaluate(record));
    const r = jsonataReads(expr);
    expect(result).toContain(field === 'pin' ? '4821' : 'ada@example.org');
    expect(r.whole || r.paths.has(field)).toBe(true);
  });

  it('the parent idiom that copies an order id onto each line reads the id, not every field of the record', () => {
    expect(jsonataReads("items.{'sku': sku, 'order': %.id}")).toEqual({ paths: new Set(['items', 'id', 'items.id']), whole: false });
  });

  it.each([
    '$clone()',
    '($s := $string; $s())',
    '($l := $lookup; $l("email"))',
    '($e := $eval; $e("email"))',
    "address.{'city': city, 'who': %.email}",
    'address.(%.email)',
    'list.(%.email)',
    'address.$eval("$$.email")',
    '($fmt := function(){ $e }; $e := email; $fmt())',
    '($f := function($n){ $n = 0 ? $x : $f($n - 1) }; $x := email; $f(1))',
    '(true ? $x := email : 0; $x)',
    '($y := $x := email; $x)',
    '($x := "a"; $string($x := email); $x)',
    '($a := {"k": $x := email}; $x)',
    '$lookup($, "em" & "ail")',
    '$each(function($v){ $v })',
    // Spelled out one character at a time by a predicate on the parent.
    '$join([0..20].($i := $; $filter($split("abcdefghijklmnopqrstuvwxyz@.", ""), function($c){ $exists($$.list.%[$substring(email, $i, 1) = $c].id) })))',
  ])('%s', async (expr) => {
    // Act
    const result = JSON.stringify(await jsonata(expr).evaluate(record));
    const r = jsonataReads(expr);

    // Assess: the value reached the result, so the analysis must say the field (or the whole record) is read
    expect(result).toContain('ada@example.org');
    expect(r.whole || r.paths.has('email')).toBe(true);
  });
});

describe('PII taint through each transform step', () => {
  it('a declared field reaching a target unmasked fails with its path and the target', () => {
    // Act
    const leaks = piiLeaks(flowOf({ pii: ['national_id'], transform: { rename: { national_id: 'nationalId' } } }));

    // Assess
    expect(leaks).toEqual([{ field: 'nationalId', raw: 'national_id', targetIndex: 0, targetId: 'replica', route: 'national_id → nationalId (rename) → replica' }]);
  });

  it('mask clears taint, under the renamed name', () => {
    expect(routes({ pii: ['national_id'], transform: { rename: { national_id: 'nationalId' }, mask: { nationalId: 'hash' } } })).toEqual([]);
  });

  it('exclude clears taint; include of other fields drops it; include of the field keeps it', () => {
    expect(routes({ pii: ['ssn'], transform: { exclude: ['ssn'] } })).toEqual([]);
    expect(routes({ pii: ['ssn'], transform: { include: ['id', 'name'] } })).toEqual([]);
    expect(routes({ pii: ['ssn'], transform: { include: ['id', 'ssn'] } })).toEqual(['ssn → replica']);
  });

  it('nested paths: masking a part leaves the rest of a tainted object tainted; excluding the object clears its parts', () => {
    expect(routes({ pii: ['contact'], transform: { mask: { 'contact.email': 'email' } } })).toEqual(['contact → replica']);
    expect(routes({ pii: ['contact.email'], transform: { exclude: ['contact'] } })).toEqual([]);
    expect(routes({ pii: ['contact.email'], transform: { include: ['contact'] } })).toEqual(['contact.email → replica']);
  });

  it('set overwrites a tainted field with a constant', () => {
    expect(routes({ pii: ['ssn'], transform: { set: { ssn: null } } })).toEqual([]);
  });

  it('a computed field that reads a tainted one is tainted, and stays so after the source is masked', () => {
    expect(routes({ pii: ['email'], transform: { compute: { domain: '$substringAfter(email, "@")' }, mask: { email: 'email' } } })).toEqual([
      'email → domain (compute) → replica',
    ]);
  });

  it('compute sees renamed names and earlier computed fields', () => {
    const flow = { pii: ['first'], transform: { rename: { first: 'given' }, compute: { full: 'given & " " & last', initials: '$substring(full, 0, 1)' } } };
    expect(routes(flow)).toEqual(['first → given (rename) → full (compute) → replica', 'first → given (rename) → replica', 'first → given (rename) → full (compute) → initials (compute) → replica']);
  });

  it('an expression reading the whole record taints its field with every declared field', () => {
    expect(routes({ pii: ['email', 'ssn'], transform: { compute: { copy: '$' }, mask: { email: 'redact', ssn: 'redact' } } })).toEqual([
      'email → copy (compute reads the whole record) → replica',
      'ssn → copy (compute reads the whole record) → replica',
    ]);
  });

  it('names one route per declared field and field, however many computes chain the record', () => {
    // Prepare: 30 computes, each reading the whole record (every earlier one among it).
    const compute = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`c${i}`, '$string($)']));

    // Act
    const leaks = piiLeaks(flowOf({ pii: ['email', 'ssn'], transform: { compute } }));

    // Assess: email, ssn and the 30 computed fields, each from 2 declared fields.
    expect(leaks).toHaveLength(2 + 30 * 2);
    expect(leaks.find((l) => l.field === 'c29' && l.raw === 'ssn')!.route).toBe('ssn → c29 (compute reads the whole record) → replica');
  });

  it("the parent operator taints a computed field only with the fields it climbs to (an order's id on each line)", () => {
    const transform = (expr: string) => ({ pii: ['email'], transform: { compute: { lines: expr }, mask: { email: 'redact' } } });
    expect(routes(transform("items.{'sku': sku, 'order': %.id}"))).toEqual([]);
    expect(routes(transform("items.{'sku': sku, 'who': %.email}"))).toEqual(['email → lines (compute) → replica']);
  });

  it('a computed field overwriting a tainted one with untainted data clears it', () => {
    expect(routes({ pii: ['email'], transform: { compute: { email: '"hidden"' } } })).toEqual([]);
  });

  it('filter does not clear taint', () => {
    expect(routes({ pii: ['email'], transform: { filter: { email: [{ exists: true }] } } })).toEqual(['email → replica']);
  });

  it('allowPii accepts a field at one target, by its name there or its declared name', () => {
    const targets = [
      { id: 'crm', type: 'http', url: 'https://crm.example/{key}', allowPii: ['mail'] },
      { id: 'lake', type: 's3' },
      { id: 'bus', type: 'eventbridge', allowPii: ['email'] },
    ];
    expect(routes({ pii: ['email'], transform: { rename: { email: 'mail' } }, targets })).toEqual(['email → mail (rename) → lake']);
  });

  it('a stream source that drops the attribute carries no taint', () => {
    const sources = [{ id: 'table', type: 'dynamodb-stream', tableName: 'people', attributes: { exclude: ['ssn'] } }];
    expect(routes({ pii: ['ssn'], sources })).toEqual([]);
    expect(taintedFields(flowOf({ pii: ['ssn'], sources: [...sources, { id: 'hook', type: 'webhook' }] })).map((f) => f.path)).toEqual(['ssn']);
  });
});

describe('the taint check in validate and synth', () => {
  it('names the flow, the target JSON path, the field, its path and the fix', () => {
    // Arrange
    const config = parseConfig({
      flows: [
        { id: 'ok', key: ['id'], sources: [{ id: 'a', type: 'webhook' }], targets: [{ id: 't', type: 'dynamodb' }] },
        { id: 'people', key: ['id'], pii: ['national_id'], sources: [{ id: 'crm', type: 'webhook' }], transform: { rename: { national_id: 'nationalId' } }, targets: [{ id: 'replica', type: 'dynamodb' }] },
      ],
    });

    // Act
    const problems = validateFlowsDeep(config);

    // Assess
    expect(problems).toEqual([
      'flow "people" at $.flows[1].targets[0]: PII field "national_id" reaches target "replica" unmasked as "nationalId": national_id → nationalId (rename) → replica. ' +
        'Mask it (transform.mask["nationalId"]), exclude it, or list "nationalId" in the target\'s allowPii',
    ]);
  });
});

describe('declared PII outside targets', () => {
  it('a quarantined record has declared fields redacted even when a target allows them', async () => {
    // Arrange
    const flow = flowOf({ pii: ['email'], targets: [{ id: 'crm', type: 'dynamodb', allowPii: ['email'] }], transform: { schema: { type: 'object', required: ['name'] } } });
    const transformer = compileTransform(flow, { hashKey: 'k' });

    // Act
    const result = await transformer.apply({ id: '1', email: 'ana@example.com' }, 'upsert');

    // Assess
    expect(result).toMatchObject({ status: 'quarantined', original: { id: '1', email: '[REDACTED]' } });
  });

  it('a raw event quarantined before the transform has declared columns redacted at any depth (Debezium payload.after)', () => {
    const flow = flowOf({ pii: ['ssn'] });
    expect(maskForQuarantine(flow, { payload: { op: 'x', after: { id: 1, ssn: '078-05-1120x' } } })).toEqual({ payload: { op: 'x', after: { id: 1, ssn: '[REDACTED]' } } });
  });

  it('a raw event quarantined before the transform has masked fields redacted at any depth, by either name of a rename', () => {
    // `Zq-Marker` looks like no PII, so only the mask config can hide it.
    const flow = flowOf({ transform: { mask: { last_name: 'redact', 'address.street': 'redact', surname: 'hash' }, rename: { family: 'surname' } } });
    const event = {
      payload: {
        op: 'x',
        before: { id: 1, last_name: 'Zq-Marker-1', family: 'Zq-Marker-2' },
        after: { id: 1, last_name: 'Zq-Marker-3', address: { street: 'Zq-Marker-4', city: 'Lyon' } },
      },
      schema: { fields: [{ field: 'last_name', type: 'string' }] },
    };
    const masked = maskForQuarantine(flow, event);
    expect(JSON.stringify(masked)).not.toMatch(/Zq-Marker/);
    expect(masked).toMatchObject({ payload: { after: { id: 1, address: { city: 'Lyon' } } }, schema: { fields: [{ field: 'last_name' }] } });
    // A mask path is followed through own fields only.
    expect(maskForQuarantine(flowOf({ transform: { mask: { 'constructor.name': 'redact' } } }), { a: 1 })).toEqual({ a: 1 });
  });
});

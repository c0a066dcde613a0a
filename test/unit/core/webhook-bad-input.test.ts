import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { carryProblems, jsonDepth, parseJsonExact, storableCopy, toAsciiJson } from '../../../functions/core/json-safety';
import { event, fuzzHandler } from '../../support/webhook-fuzz';

describe('JSON that syncline carries exactly, or refuses with a reason', () => {
  it('finds numbers a double would change, by path, without quoting them', () => {
    const record = parseJsonExact('{"id":"a","big":12345678901234567890,"inf":1e309,"tiny":1e-400,"long":0.12345678901234567890123,"ok":1.5,"n":[5e-324]}');
    expect(carryProblems(record, 10)).toEqual([
      'number at $.big is an integer beyond 2^53 that a JSON number would round; send it as a string',
      'number at $.inf is too large for a JSON number (it would become Infinity); send it as a string',
      'number at $.tiny is too small for a JSON number (it would become 0); send it as a string',
      'number at $.long has more significant digits than a JSON number keeps; send it as a string',
      'number at $.n[0] is outside the range DynamoDB stores (1e-130 to 1e126)',
    ]);
  });

  it('refuses names DynamoDB or its marshaller cannot store and nesting past the limit, and keeps a storable copy', () => {
    const record = parseJsonExact(`{"":1,"__proto__":{"x":1},"constructor":{"name":"Set"},"deep":${'['.repeat(30)}1${']'.repeat(30)},"big":9007199254740993}`) as Record<string, unknown>;
    expect(carryProblems(record, 10)).toEqual([
      '$ has a field with an empty name, which DynamoDB cannot store',
      '$ has a field named __proto__, which the DynamoDB marshaller cannot store',
      '$.constructor is an object with a name, which the DynamoDB marshaller mistakes for a type',
      '$.deep[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0] nests deeper than 24 levels, the deepest record syncline stores',
      'number at $.big is an integer beyond 2^53 that a JSON number would round; send it as a string',
    ]);
    const copy = storableCopy(record);
    expect(Object.keys(copy)).toEqual(['(empty)', '(__proto__)', '(constructor)', 'deep', 'big']);
    expect(copy.big).toBe('9007199254740993');
    expect(carryProblems(copy)).toEqual([]);
  });

  it('carries emoji, U+FFFE and lone surrogates through an ASCII-only encoding of the same JSON value', () => {
    const json = JSON.stringify({ s: '😀 \uFFFE \uFFFF é \ud800' });
    const ascii = toAsciiJson(json);
    expect(ascii).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(ascii)).toEqual(JSON.parse(json));
  });

  it('measures any nesting depth without recursion', () => {
    expect(jsonDepth(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBe(100_000);
    expect(jsonDepth('{"a":"[[[{{{","b":[1]}')).toBe(2);
  });
});

describe('webhook capture: bad input gets a 4xx or quarantine with its reason, never a 5xx', () => {
  let h: ReturnType<typeof fuzzHandler>;
  beforeEach(() => {
    h = fuzzHandler();
  });
  afterEach(() => h.restore());
  const post = (body: string, path = '/webhooks/fuzz/app') => h.handler(event({ body, path, signing: 'good', base64: false, id: `msg_${Math.random()}`, junk: '' }));
  const json = (res: { body?: string }) => JSON.parse(res.body ?? '{}') as Record<string, unknown>;

  it('quarantines a record holding 2^64 with a reason naming the field, keeps its exact digits, and accepts its batch-mates', async () => {
    // Act
    const res = await post('[{"id":"a","n":1,"ts":1},{"id":"b","n":18446744073709551616,"ts":1},{"id":"c","n":1e309,"ts":1}]');

    // Assess
    expect(res.statusCode).toBe(202);
    expect(json(res)).toEqual({ accepted: 1, duplicates: 0, quarantined: 2 });
    const quarantined = h.stored.filter((i) => i.pk === 'fuzz' && 'record' in i);
    expect(quarantined.map((q) => q.reason)).toEqual([
      'record cannot be carried exactly: number at $.n is an integer beyond 2^53 that a JSON number would round; send it as a string',
      'record cannot be carried exactly: number at $.n is too large for a JSON number (it would become Infinity); send it as a string',
    ]);
    expect(quarantined.map((q) => (q.record as { n: unknown }).n)).toEqual(['18446744073709551616', '1e309']);
  });

  it('sends emoji and U+FFFE to the queue as ASCII escapes that decode to the same record', async () => {
    const res = await post(JSON.stringify({ id: 'e', s: '😀\uFFFE\uFFFF', ts: 1 }));
    expect(res.statusCode).toBe(202);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(h.sent[0]!).data).toEqual({ id: 'e', s: '😀\uFFFE\uFFFF', ts: 1 });
  });

  it("audits a record quarantined at capture whose key would land among syncline's own entries (status windows, pull runs) under no key", async () => {
    // Act
    const res = await post('[{"id":"~window#2026-12-07T23","ts":1,"x":1e400},{"id":"~pull/nightly","ts":1,"x":1e400}]');

    // Assess
    expect(json(res)).toEqual({ accepted: 0, duplicates: 0, quarantined: 2 });
    const audited = h.stored.filter((i) => String(i.sk ?? '').includes('quarantined'));
    expect(audited).toHaveLength(2);
    expect(audited.map((i) => i.pk)).not.toContainEqual(expect.stringMatching(/~window#|~pull\//));
  });

  it('takes a body that starts with a byte order mark (as some .NET senders write it) as the JSON after it', async () => {
    const res = await post(`\uFEFF${JSON.stringify({ id: 'bom', ts: 1 })}`);
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(h.sent[0]!).data).toEqual({ id: 'bom', ts: 1 });
  });

  it('answers 400 for nesting deeper than 64 levels, whatever the depth', async () => {
    for (const depth of [65, 5_000, 200_000]) {
      const res = await post(`{"id":"d","x":${'['.repeat(depth)}1${']'.repeat(depth)}}`);
      expect(res.statusCode).toBe(400);
      expect(json(res).message).toBe(`body nests ${depth + 1} levels deep; the limit is 64`);
    }
  });

  it('answers 400 for a path that is not valid percent-encoding', async () => {
    const res = await post('{"id":"p"}', '/webhooks/%zz/app');
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toBe('path segment "%zz" is not valid percent-encoding');
  });

  it('answers 400 for a webhook-id too long to keep for replay protection', async () => {
    const res = await h.handler(event({ body: '{"id":"w"}', path: '/webhooks/fuzz/app', signing: 'good', base64: false, id: 'i'.repeat(600), junk: '' }));
    expect(res.statusCode).toBe(400);
    expect(json(res).message).toBe('delivery id is 600 bytes; the longest accepted is 512');
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, readConfigFile } from '../../../lib/config/load';
import { checkConfig } from '../../../lib/config/check';

const flowWith = (source: Record<string, unknown>) => ({ flows: [{ id: 'crm-sync', key: ['id'], sources: [{ id: 'api', ...source }], targets: [{ id: 't', type: 'dynamodb' }] }] });

function messageOf(raw: unknown): string {
  try {
    parseConfig(raw, 'test');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('config errors inside unions', () => {
  it('name the missing field of the branch the input meant (cursor pagination without param), with flow and path', () => {
    const message = messageOf(flowWith({ type: 'schedule', every: '5 minutes', http: { url: 'https://api.example.com/items', itemsPath: 'items', pagination: { type: 'cursor', cursorPath: 'next' } } }));
    expect(message).toContain('flow "crm-sync" at $.flows[0].sources[0].http.pagination.param: missing required field "param" (expected string)');
    expect(message).not.toContain('Invalid input');
  });

  it('list the allowed types when no branch matches the type', () => {
    const message = messageOf(flowWith({ type: 'webhok' }));
    expect(message).toContain('flow "crm-sync" at $.flows[0].sources[0].type: unknown type: expected one of "webhook", "dynamodb-stream", "schedule", "sqs", "eventbridge"');
  });
});

describe('config errors a deploy would otherwise meet', () => {
  const problemsOf = (flow: Record<string, unknown>) => {
    const check = checkConfig({ context: { flows: [{ id: 'crm-sync', key: ['id'], sources: [{ id: 'api', type: 'sqs' }], targets: [{ id: 't', type: 'dynamodb' }], ...flow }] } });
    return check.ok ? [] : check.problems.join('\n');
  };

  it.each([
    ['a stream source given a table ARN', { sources: [{ id: 'orders', type: 'dynamodb-stream', streamArn: 'arn:aws:dynamodb:us-east-1:111122223333:table/orders' }] }, '$.flows[0].sources[0].streamArn: must be a stream ARN'],
    ['an s3 target KMS key without the bucket it encrypts', { targets: [{ id: 'lake', type: 's3', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1111bbbb-12ab-34cd-56ef-1234567890ab' }] }, '$.flows[0].targets[0].kmsKeyArn: is the key of an existing bucket: give bucket too'],
    ['an s3 target bucket written as a URL', { targets: [{ id: 'lake', type: 's3', bucket: 's3://My_Bucket' }] }, '$.flows[0].targets[0].bucket: must be an S3 bucket name'],
    ['an s3 pull from a bucket name S3 refuses', { sources: [{ id: 'nightly', type: 'schedule', every: '1 hour', s3: { bucket: 'Exports_2026' } }] }, '$.flows[0].sources[0].s3.bucket: must be an S3 bucket name'],
    ['an empty EventBridge pattern', { sources: [{ id: 'bus', type: 'eventbridge', pattern: {} }] }, '$.flows[0].sources[0].pattern: must match on at least one field'],
    [
      'an EventBridge pattern longer than a rule takes',
      { sources: [{ id: 'bus', type: 'eventbridge', pattern: { detail: { status: Array.from({ length: 300 }, (_, i) => `status-value-${i}`) } } }] },
      "$.flows[0].sources[0].pattern: 5613 characters, over the 4096 an EventBridge rule's pattern can have",
    ],
    ['an http target body that is not JSONata', { targets: [{ id: 'h', type: 'http', url: 'https://x.example.com/{key}', body: '{"a": ' }] }, '$.flows[0].targets[0].body: invalid JSONata expression'],
    [
      'an http create body that is not JSONata',
      { targets: [{ id: 'h', type: 'http', url: 'https://x.example.com/{remoteId}', create: { url: 'https://x.example.com', idPath: 'id', body: '$$$(' } }] },
      '$.flows[0].targets[0].create.body: invalid JSONata expression',
    ],
    ['a pull every 30 seconds (Scheduler runs whole minutes)', { sources: [{ id: 'nightly', type: 'schedule', every: '30 seconds', s3: { bucket: 'exports' } }] }, '$.flows[0].sources[0].every: must be whole minutes'],
    ['a secret name Secrets Manager refuses', { sources: [{ id: 'gh', type: 'webhook', auth: { type: 'github', secretName: 'github webhook' } }] }, '$.flows[0].sources[0].auth.secretName: must be a Secrets Manager name'],
    ['a key that lists a field twice', { key: ['id', 'id'] }, '$.flows[0].key[1]: "id" is already part of the key'],
    ['a deleteWhen header name that is not lower case', { sources: [{ id: 'crm', type: 'webhook', deleteWhen: { $headers: { 'X-Shopify-Topic': ['products/delete'] } } }] }, '$.flows[0].sources[0].deleteWhen.$headers["X-Shopify-Topic"]: header names are matched in lower case, as "x-shopify-topic"'],
    ['a deleteWhen $headers inside $or', { sources: [{ id: 'crm', type: 'webhook', deleteWhen: { $or: [{ event: ['deleted'] }, { $headers: { 'x-topic': ['delete'] } }] } }] }, '$.flows[0].sources[0].deleteWhen.$or[1].$headers: "$headers" is read only at the top of deleteWhen'],
    ['a deleteWhen $headers under a field', { sources: [{ id: 'crm', type: 'webhook', deleteWhen: { detail: { $headers: { 'x-topic': ['delete'] } } } }] }, '$.flows[0].sources[0].deleteWhen.detail.$headers: "$headers" is read only at the top of deleteWhen'],
    ['a deleteWhen $or that is not an array', { sources: [{ id: 'crm', type: 'webhook', deleteWhen: { $or: { event: ['deleted'] } } }] }, '$.flows[0].sources[0].deleteWhen: $or: must be an array of at least two patterns'],
    ['a sourceOrder naming no source of the flow', { conflict: { sourceOrder: ['api', 'erp'] } }, '$.flows[0].conflict.sourceOrder[1]: unknown source "erp"'],
    ['a DynamoDB key attribute that is one of several key fields', { key: ['tenant', 'id'] }, '$.flows[0].targets[0].keyAttribute: "id" is a key field, but the item\'s "id" holds the whole key (tenant#id)'],
    ['a key field two renames fill', { key: ['user.id'], transform: { rename: { uid: 'user.id', account: 'user' } } }, '$.flows[0].transform.rename.account: key field "user.id" is filled by the renames of "uid" and "account", so it depends on which a record holds'],
    ['a key field masked with redact', { key: ['email'], transform: { mask: { email: 'redact' } } }, '$.flows[0].transform.mask.email: masks key field "email" with "redact", which gives different records the same key'],
    ['a mask of the object that holds a key field', { key: ['user.id'], transform: { mask: { user: 'hash' } } }, '$.flows[0].transform.mask.user: masks the object that holds key field "user.id"'],
    ['a rename of a field inside another renamed field', { transform: { rename: { address: 'location', 'address.city': 'location.town' } } }, '$.flows[0].transform.rename["address.city"]: is inside "address", which is renamed too'],
    ['a compute field that is no identifier', { transform: { compute: { 'full name': '$$(' } } }, '$.flows[0].transform.compute["full name"]: invalid JSONata expression'],
    ['a set of a key field', { transform: { set: { id: 'const' } } }, '$.flows[0].transform.set.id: sets key field "id" to one value for every record, so all would have one key'],
    ['an exclude of a key field', { key: ['user.id'], transform: { exclude: ['name', 'user'] } }, '$.flows[0].transform.exclude[1]: removes key field "user.id", so no record would have a key'],
    ['an include without the key field', { transform: { include: ['name', 'email'] } }, '$.flows[0].transform.include: leaves out key field "id", so no record would have a key'],
    ['a rename of the key field away', { transform: { rename: { id: 'uid' } } }, '$.flows[0].transform.rename.id: moves key field "id" to "uid", so no record would have "id" to key it by'],
    ['a DynamoDB target table given by the ARN of something else', { targets: [{ id: 'replica', type: 'dynamodb', tableName: 'arn:aws:s3:::bucket' }] }, '$.flows[0].targets[0].tableName: must be a DynamoDB table name'],
    ['a DynamoDB target table name DynamoDB refuses', { targets: [{ id: 'replica', type: 'dynamodb', tableName: 'bad table!' }] }, '$.flows[0].targets[0].tableName: must be a DynamoDB table name'],
    ['a stream source table given by ARN (a stream ARN names a table elsewhere)', { sources: [{ id: 'orders', type: 'dynamodb-stream', tableName: 'arn:aws:dynamodb:eu-west-1:111122223333:table/orders' }] }, '$.flows[0].sources[0].tableName: must be a DynamoDB table name'],
    ['an EventBridge target bus name EventBridge refuses', { targets: [{ id: 'bus', type: 'eventbridge', busName: 'my bus!' }] }, '$.flows[0].targets[0].busName: must be an EventBridge bus name or ARN'],
    ['a compute calling a function JSONata does not have', { transform: { compute: { x: '$nosuchfn(name)' } } }, '$.flows[0].transform.compute.x: calls $nosuchfn, which no JSONata function is'],
    ['an http body calling a function JSONata does not have', { targets: [{ id: 'h', type: 'http', url: 'https://x.example.com/{key}', body: '{"n": $toUpper(name)}' }] }, '$.flows[0].targets[0].body: calls $toUpper, which no JSONata function is'],
    ['an http target url with a placeholder that is not filled in', { targets: [{ id: 'h', type: 'http', url: 'https://x.example.com/items/{id}' }] }, '$.flows[0].targets[0].url: placeholder {id} is not filled in: use {key} or {remoteId}'],
    ['an http target url without a host', { targets: [{ id: 'h', type: 'http', url: 'https://' }] }, '$.flows[0].targets[0].url: must be an http(s) URL template with a host'],
    ['an http target url with a space in its host', { targets: [{ id: 'h', type: 'http', url: 'https://exa mple.com/{key}' }] }, '$.flows[0].targets[0].url: must be an http(s) URL template with a host'],
    ['a pull from a file URL', { sources: [{ id: 'nightly', type: 'schedule', every: '1 hour', http: { url: 'file:///etc/passwd' } }] }, '$.flows[0].sources[0].http.url: must be an http(s) URL'],
    ['a compute field named __proto__ (it would set the prototype, and vanish)', { transform: { compute: JSON.parse('{"__proto__": "1"}') } }, '$.flows[0].transform.compute.__proto__: a field path may not pass through __proto__'],
    ['a set of a field named __proto__', { transform: { set: JSON.parse('{"__proto__": 1}') } }, '$.flows[0].transform.set.__proto__: a field path may not pass through __proto__'],
    ['a rename to __proto__', { transform: { rename: { a: '__proto__' } } }, '$.flows[0].transform.rename.a: a field path may not pass through __proto__'],
    ['a rename into a path through __proto__', { transform: { rename: { a: '__proto__.polluted' } } }, '$.flows[0].transform.rename.a: a field path may not pass through __proto__'],
    ['a rename of a source field named __proto__', { transform: { rename: JSON.parse('{"__proto__": "x"}') } }, '$.flows[0].transform.rename.__proto__: a field path may not pass through __proto__'],
    ['a compute into x.__proto__', { transform: { compute: { 'x.__proto__': '1' } } }, '$.flows[0].transform.compute["x.__proto__"]: a field path may not pass through __proto__'],
    ['a mask of a path through __proto__', { transform: { mask: { '__proto__.ssn': 'redact' } } }, '$.flows[0].transform.mask["__proto__.ssn"]: a field path may not pass through __proto__'],
    ['a set value holding a __proto__ field', { transform: { set: { meta: JSON.parse('{"a": {"__proto__": {"x": 1}}}') } } }, '$.flows[0].transform.set.meta: cannot be carried exactly, so every record would be quarantined: $.a has a field named __proto__'],
    ['an include through __proto__', { transform: { include: ['id', 'a.__proto__'] } }, '$.flows[0].transform.include[1]: a field path may not pass through __proto__'],
    ['an http target secret name Secrets Manager refuses', { targets: [{ id: 'h', type: 'http', url: 'https://x.example.com/{key}', secretName: 'my secret!' }] }, '$.flows[0].targets[0].secretName: must be a Secrets Manager name'],
  ])('names %s with its JSON path', (_what, flow, expected) => {
    expect(problemsOf(flow)).toContain(`flow "crm-sync" at ${expected}`);
  });

  it.each([
    ['a key renamed into place', { transform: { rename: { _id: 'id' } } }],
    ['a key computed anew after the raw one is excluded', { transform: { compute: { id: "tenant & '-' & num" }, exclude: ['id'] } }],
    ['an include that keeps the key object', { key: ['user.id'], transform: { include: ['user', 'name'] } }],
    ['compute calling JSONata functions, its own and $now', { transform: { compute: { a: '($up := function($s){ $uppercase($s) }; $up(name))', b: '$now()', c: '$map(tags, function($t){ $trim($t) })' } } }],
    ['a table of another account by ARN', { targets: [{ id: 't', type: 'dynamodb', tableName: 'arn:aws:dynamodb:eu-west-1:111122223333:table/people.v2' }] }],
  ])('accepts %s', (_what, flow) => {
    expect(problemsOf(flow)).toEqual([]);
  });

  it('refuses one webhook secret name in two flows, whose stacks would each create it', () => {
    const flow = (id: string) => ({ id, key: ['id'], sources: [{ id: 'gh', type: 'webhook', auth: { type: 'github', secretName: 'github-hooks' } }], targets: [{ id: 't', type: 'dynamodb' }] });
    const check = checkConfig({ context: { flows: [flow('issues'), flow('pulls')] } });
    expect(check.ok ? [] : check.problems.join('\n')).toContain('$.flows[1].sources[0].auth.secretName: the stack creates webhook secret "github-hooks" for flow "issues" already');
  });

  it('accepts the shapes AWS takes', () => {
    expect(
      problemsOf({
        sources: [
          { id: 'orders', type: 'dynamodb-stream', streamArn: 'arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/2026-01-01T00:00:00.000' },
          { id: 'bus', type: 'eventbridge', pattern: { source: ['crm'] } },
          { id: 'nightly', type: 'schedule', every: '120 seconds', s3: { bucket: 'exports' } },
          { id: 'gh', type: 'webhook', auth: { type: 'github', secretName: 'prod/github+hooks@org.example=1_' } },
          { id: 'gh-2', type: 'webhook', auth: { type: 'github', secretName: 'prod/github+hooks@org.example=1_' } },
        ],
        conflict: { sourceOrder: ['bus', 'orders'] },
        targets: [
          { id: 'lake', type: 's3', bucket: 'my.data-lake-2026' },
          { id: 'h', type: 'http', url: 'https://x.example.com/{key}', body: '{"name": fullName}' },
        ],
      }),
    ).toEqual([]);
  });
});

describe('a JSON config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const flows = { flows: [{ id: 'crm-sync', key: ['id'], sources: [{ id: 'api', type: 'sqs' }], targets: [{ id: 't', type: 'dynamodb' }] }] };

  it('is read with a leading byte-order mark, as editors on Windows write it', () => {
    expect(readConfigFile(file('bom.json', `\uFEFF${JSON.stringify(flows)}`))).toEqual(flows);
  });

  it('refuses a key that appears twice in one object, naming it, rather than keeping the last silently', () => {
    const twice = file('twice.json', '{"flows": [{"id": "crm-sync", "key": ["id"], "id": "other"}]}');
    expect(() => readConfigFile(twice)).toThrow(/not valid json: the key "id" appears twice in one object/);
  });
});

describe('a YAML config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-yaml-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes merge keys, so flows can share a block defined once with an anchor', () => {
    // Prepare: the second flow merges the first one's sources and targets, and overrides its id.
    const path = join(dir, 'flows.yaml');
    writeFileSync(
      path,
      ['flows:', '  - &contacts', '    id: contacts', '    key: [id]', '    sources: [{ id: api, type: sqs }]', '    targets: [{ id: t, type: dynamodb }]', '  - <<: *contacts', '    id: leads', ''].join('\n'),
    );

    // Act
    const config = parseConfig(readConfigFile(path), path);

    // Assess
    expect(config.flows.map((f) => [f.id, f.sources[0]!.id, f.targets[0]!.id])).toEqual([
      ['contacts', 'api', 't'],
      ['leads', 'api', 't'],
    ]);
  });
});

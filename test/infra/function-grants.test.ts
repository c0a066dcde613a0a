import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };

/** A flow with a source of every type, manual review and a target of every type; and a flow whose id extends it. */
const EXPORTS_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/0000aaaa-12ab-34cd-56ef-1234567890ab';
const LAKE_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1111bbbb-12ab-34cd-56ef-1234567890ab';

function grantsConfig() {
  const targets = everyTargetFlow().targets;
  return parseConfig({
    ...exampleConfigInput(),
    flows: [
      {
        id: 'people',
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook' },
          { id: 'orders', type: 'dynamodb-stream', streamArn: 'arn:aws:dynamodb:eu-west-1:111122223333:table/Orders/stream/2026-01-01T00:00:00.000' },
          { id: 'api', type: 'schedule', every: '15 minutes', http: { url: 'https://api.example.com/people', auth: { type: 'bearer', secretName: 'api-token' } } },
          { id: 'inbox', type: 'sqs' },
          { id: 'bus', type: 'eventbridge', busName: 'crm-bus', pattern: { source: ['crm'] } },
        ],
        conflict: { strategy: 'manual', autoResolveAfter: '1 hour', autoResolveWith: 'lww', eventBusName: 'reviews' },
        targets: [
          ...targets.filter((t) => t.type !== 'sqs'),
          { id: 'out', type: 'sqs', queueArn: 'arn:aws:sqs:eu-west-1:111122223333:people-out', kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
        ],
      },
      { ...everyTargetFlow('people-b'), sources: [{ id: 'crm', type: 'webhook' }, { id: 'pg', type: 'webhook', format: 'debezium', onTruncate: 'delete' }] },
      {
        id: 'people-c',
        key: ['email'],
        sources: [{ id: 'export', type: 'schedule', every: '1 day', s3: { bucket: 'acme-exports', prefix: 'people/', format: 'jsonl', kmsKeyArn: EXPORTS_KEY } }],
        transform: { mask: { email: 'hash' } },
        targets: [
          { id: 'replica', type: 'dynamodb' },
          { id: 'lake', type: 's3', bucket: 'acme-lake', kmsKeyArn: LAKE_KEY },
        ],
      },
    ],
  });
}

let stack: SyncStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synthStack(grantsConfig(), 'Grants'));
});

/** A role's statements: its inline policy's and any managed policy's CDK moved statements into (a large role's). */
function statementsOf(fn: { role?: { node: { defaultChild?: unknown } } }): Statement[] {
  const roleId = stack.getLogicalId(fn.role!.node.defaultChild as never);
  const attached = { Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) } };
  const policies = { ...template.findResources('AWS::IAM::Policy', attached), ...template.findResources('AWS::IAM::ManagedPolicy', attached) };
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (statements: Statement[]) => [...new Set(statements.flatMap((s) => [s.Action].flat()))].sort();
const functionsOf = (flowId: string) => ({ ...stack.flows[flowId]!.functions, admin: stack.flows[flowId]!.adminFunction });

/** Logs and tracing every function has. */
const BASE = ['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
/** What the SQS event source mapping needs on its queue. */
const CONSUME = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
const STREAM = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];

describe('each function of a flow is granted exactly the actions its code calls', () => {
  const expected: Record<string, string[]> = {
    'capture-crm': [...BASE, 'dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 's3:PutObject', 'secretsmanager:GetSecretValue', 'sqs:SendMessage'],
    // The stream mapping's on-failure destination is bound by CDK's SqsDlq (grantSendMessages on that queue only).
    'capture-orders': [...BASE, ...STREAM, 'dynamodb:BatchWriteItem', 'dynamodb:DescribeTable', 'dynamodb:Scan', 's3:PutObject', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
    'capture-api': [...BASE, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'lambda:InvokeFunction', 's3:PutObject', 'secretsmanager:GetSecretValue', 'sqs:SendMessage'],
    'capture-inbox': [...BASE, ...CONSUME, 'dynamodb:BatchWriteItem', 's3:PutObject', 'sqs:SendMessage'],
    'capture-bus': [...BASE, ...CONSUME, 'dynamodb:BatchWriteItem', 's3:PutObject', 'sqs:SendMessage'],
    transform: [...BASE, ...CONSUME, 'dynamodb:BatchWriteItem', 's3:DeleteObject', 's3:GetObject', 's3:PutObject', 'secretsmanager:GetSecretValue', 'sqs:SendMessage'],
    resolve: [...BASE, ...CONSUME, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'events:PutEvents', 's3:DeleteObject', 's3:GetObject', 's3:PutObject', 'sqs:SendMessage'],
    'conflict-sweep': [...BASE, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 's3:PutObject', 'sqs:SendMessage'],
    'deliver-replica': [...BASE, ...CONSUME, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 's3:DeleteObject', 's3:GetObject', 'sqs:SendMessage'],
    'deliver-lake': [...BASE, ...CONSUME, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem', 's3:DeleteObject', 's3:GetObject', 's3:PutObject', 'sqs:SendMessage'],
    'deliver-bus': [...BASE, ...CONSUME, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem', 'events:PutEvents', 's3:DeleteObject', 's3:GetObject', 's3:PutObject', 'sqs:SendMessage'],
    'deliver-jira': [...BASE, ...CONSUME, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem', 's3:DeleteObject', 's3:GetObject', 's3:PutObject', 'secretsmanager:GetSecretValue', 'sqs:SendMessage'],
    'deliver-out': [...BASE, ...CONSUME, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:UpdateItem', 'kms:Decrypt', 'kms:GenerateDataKey', 's3:DeleteObject', 's3:GetObject', 's3:PutObject', 'sqs:SendMessage'],
    // This flow's resource names could pass 4 KB of environment: the admin function reads them from its SSM parameter.
    admin: [...BASE, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 's3:PutObject', 'secretsmanager:GetSecretValue', 'sqs:GetQueueAttributes', 'sqs:SendMessage', 'ssm:GetParameter'],
  };
  for (const [fnId, actions] of Object.entries(expected)) {
    it(fnId, () => {
      expect(actionsOf(statementsOf(functionsOf('people')[fnId as 'admin']!))).toEqual([...new Set(actions)].sort());
    });
  }

  it('never DescribeSecret, and GetQueueUrl only on a queue an event source reads or (stream) fails to', () => {
    const flow = stack.flows.people!;
    const failure = stack.resolve(flow.streamFailureQueues.orders!.queueArn);
    for (const [fnId, fn] of Object.entries(functionsOf('people'))) {
      const statements = statementsOf(fn);
      expect(actionsOf(statements), fnId).not.toContain('secretsmanager:DescribeSecret');
      const urls = statements.filter((s) => [s.Action].flat().includes('sqs:GetQueueUrl'));
      for (const s of urls) {
        if (JSON.stringify(s.Resource) === JSON.stringify(failure)) continue;
        expect([s.Action].flat(), fnId).toContain('sqs:ReceiveMessage');
      }
    }
  });

  it("lets the admin function read only the key and `_syncline` marker of a DynamoDB target's items", () => {
    const replica = stack.resolve(stack.flows.people!.targetTables.replica!.tableArn);
    const onTarget = statementsOf(functionsOf('people').admin).filter((s) => JSON.stringify(s.Resource) === JSON.stringify(replica));
    expect(onTarget).toEqual([
      expect.objectContaining({
        Action: 'dynamodb:GetItem',
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [expect.any(String), '_syncline'] }, StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' } },
      }),
    ]);
  });
});

describe('existing buckets encrypted with a customer managed key (SSE-KMS)', () => {
  it('let the S3 target make data keys and the S3 pull decrypt, each with its own key only', () => {
    const kms = (fnId: string) => statementsOf(stack.flows['people-c']!.functions[fnId]!).filter((st) => JSON.stringify(st.Action).includes('kms:'));
    expect(kms('deliver-lake')).toEqual([expect.objectContaining({ Action: 'kms:GenerateDataKey', Resource: LAKE_KEY })]);
    expect(kms('capture-export')).toEqual([expect.objectContaining({ Action: 'kms:Decrypt', Resource: EXPORTS_KEY })]);
    expect(kms('deliver-replica')).toEqual([]);
  });
});

describe('a pull whose flow masks its key', () => {
  it('reads the hash key secret (to keep the key as an HMAC in its state); a pull of a flow that does not, never', () => {
    const hashKey = JSON.stringify(stack.resolve(stack.store.hashKeySecret.secretArn));
    const variables = (flowId: string, fnId: string) => {
      const fn = stack.flows[flowId]!.functions[fnId]!;
      return template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties.Environment.Variables as Record<string, unknown>;
    };
    const secretsRead = (flowId: string, fnId: string) =>
      statementsOf(stack.flows[flowId]!.functions[fnId]!)
        .filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))
        .map((s) => JSON.stringify(s.Resource));
    expect(JSON.stringify(variables('people-c', 'capture-export').HASH_KEY_SECRET_ARN)).toBe(hashKey);
    expect(secretsRead('people-c', 'capture-export')).toEqual([hashKey]);
    expect(variables('people', 'capture-api').HASH_KEY_SECRET_ARN).toBeUndefined();
    expect(secretsRead('people', 'capture-api')).not.toContain(hashKey);
  });
});

describe('onTruncate "delete"', () => {
  it("lets that flow's resolve query only the state's truncate index; no other flow's, and each resolve sends only to its own queue", () => {
    const resolveOf = (flowId: string) => statementsOf(stack.flows[flowId]!.functions.resolve!);
    const queries = resolveOf('people-b').filter((s) => [s.Action].flat().includes('dynamodb:Query'));
    expect(queries.map((s) => JSON.stringify(s.Resource))).toEqual([expect.stringMatching(/\/index\/byTruncateScope"/)]);
    expect(queries[0]!.Condition?.['ForAllValues:StringLike']).toEqual({ 'dynamodb:LeadingKeys': ['people-b#*'] });
    // The latest truncate of each table is read and moved on its own item, of this flow only.
    const marks = resolveOf('people-b').filter((s) => JSON.stringify(s.Condition ?? {}).includes('~truncated#'));
    expect(marks.map((s) => [[s.Action].flat().sort(), s.Condition?.['ForAllValues:StringLike']])).toEqual([[['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'], { 'dynamodb:LeadingKeys': ['~truncated#people-b#*'] }]]);
    expect(resolveOf('people').some((s) => JSON.stringify(s.Condition ?? {}).includes('~truncated#'))).toBe(false);
    const ownQueue = JSON.stringify(stack.resolve(stack.flows['people-b']!.queues.resolve!.queueArn));
    expect(resolveOf('people-b').some((s) => [s.Action].flat().includes('sqs:SendMessage') && JSON.stringify(s.Resource).includes(ownQueue))).toBe(true);
    expect(resolveOf('people').some((s) => [s.Action].flat().includes('dynamodb:Query'))).toBe(false);
    expect(resolveOf('people').some((s) => JSON.stringify(s.Resource).includes(ownQueue) && [s.Action].flat().includes('sqs:SendMessage'))).toBe(false);
    const variables = (flowId: string) => {
      const fn = stack.flows[flowId]!.functions.resolve!;
      return template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties.Environment.Variables as Record<string, unknown>;
    };
    expect(variables('people-b').RESOLVE_QUEUE_URL).toEqual(stack.resolve(stack.flows['people-b']!.queues.resolve!.queueUrl));
    expect(variables('people').RESOLVE_QUEUE_URL).toEqual(stack.resolve(stack.flows.people!.queues.resolve!.queueUrl));
  });
});

describe('per-flow isolation on the shared tables (dynamodb:LeadingKeys)', () => {
  const tableArns = () => {
    const store = stack.store;
    return Object.fromEntries((['state', 'audit', 'quarantine', 'conflicts', 'dedup'] as const).map((t) => [t, JSON.stringify(stack.resolve(store[t].tableArn))]));
  };
  /** The store table a resource (table or index ARN) belongs to. */
  const storeTableOf = (resource: unknown): string | undefined => {
    const text = JSON.stringify(resource);
    return Object.entries(tableArns()).find(([, arn]) => text === arn || text.includes(arn))?.[0];
  };

  it("limits every action of every flow function on a shared table to that flow's partition keys", () => {
    const patterns: Record<string, (flow: string) => string[]> = {
      state: (f) => [`${f}#*`, `~delivered#${f}#*`, `~pull#${f}#*`, `~truncated#${f}#*`],
      audit: (f) => [`${f}#*`],
      quarantine: (f) => [f],
      conflicts: (f) => [f],
      dedup: (f) => [`${f}/*`],
    };
    let checked = 0;
    for (const flowId of ['people', 'people-b']) {
      for (const [fnId, fn] of Object.entries(functionsOf(flowId))) {
        for (const s of statementsOf(fn)) {
          for (const resource of [s.Resource].flat()) {
            const table = storeTableOf(resource);
            if (!table) continue;
            checked++;
            const keys = s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[] | undefined;
            expect(keys, `${flowId}/${fnId} ${JSON.stringify(s.Action)} on ${table}`).toBeDefined();
            // Every allowed pattern is one of this flow's (a narrower one counts), and the key must be present.
            for (const k of keys!) expect(patterns[table]!(flowId).some((p) => k === p || (p.endsWith('*') && k.startsWith(p.slice(0, -1)))), `${flowId}/${fnId}: ${k}`).toBe(true);
            expect(s.Condition?.Null, `${flowId}/${fnId}`).toEqual({ 'dynamodb:LeadingKeys': 'false' });
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it("never lets one flow's pattern match another flow's keys, even when one id extends the other", () => {
    const keysOf = (flowId: string, fnId: string) =>
      statementsOf(functionsOf(flowId)[fnId as 'admin']!).flatMap((s) => (s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[] | undefined) ?? []);
    const matches = (pattern: string, key: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(key);
    for (const pattern of keysOf('people', 'admin')) {
      for (const key of ['people-b#c-1', '~delivered#people-b#replica#c-1', 'people-b', 'people-b/crm#id']) expect(matches(pattern, key), `${pattern} vs ${key}`).toBe(false);
    }
    for (const key of ['people#c-1', '~delivered#people#replica#c-1', 'people']) expect(keysOf('people', 'admin').some((p) => matches(p, key)), key).toBe(true);
  });

  it('gives the schedule pull only its own source items of the state table, attached before the schedule can run', () => {
    const flow = stack.flows.people!;
    const fn = flow.functions['capture-api']!;
    const pull = statementsOf(fn).find((s) => [s.Action].flat().includes('dynamodb:GetItem'))!;
    expect(pull.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']).toEqual(['~pull#people#api', '~pull#people#api#*']);
    const schedules = template.findResources('AWS::Scheduler::Schedule');
    const policies = template.findResources('AWS::IAM::Policy');
    const pullPolicy = Object.keys(policies).find((id) => id.includes('captureapipullpolicy'))!;
    const scheduleOfApi = Object.entries(schedules).find(([id]) => id.includes('captureapischedule'))!;
    expect(pullPolicy).toBeDefined();
    expect(scheduleOfApi[1].DependsOn).toContain(pullPolicy);
  });
});

import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { LAMBDA_ENVIRONMENT_LIMIT, resolvedEnvironmentBound } from '../../lib/constructs/environment-budget';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, synthStack } from './helpers';
import { everyTargetFlow } from './target-flows';

/** A 40-character flow id, the longest the schema allows. */
const id40 = (prefix: string) => `${prefix}${'x'.repeat(40 - prefix.length)}`;

/** A flow with long ids, two webhook sources and `targets` targets of every kind (each DynamoDB one created). */
function bigFlow(id: string, targets: number) {
  const kinds = everyTargetFlow().targets;
  return {
    id,
    key: ['id'],
    sources: [{ id: id40('crm'), type: 'webhook' }, { id: id40('erp'), type: 'webhook' }],
    targets: Array.from({ length: targets }, (_, i) => {
      const t = kinds[i % kinds.length]!;
      return { ...t, id: id40(`t${i}-`), ...(t.type === 'dynamodb' ? { tableName: undefined } : {}) };
    }),
  };
}

let stack: SyncStack;

beforeAll(() => {
  // Prepare: a long stack name, a small flow and a flow with 12 targets, and more flows than fit one stack (nested).
  const flows = [bigFlow(id40('small'), 1), bigFlow(id40('big'), 12), ...Array.from({ length: 4 }, (_, i) => bigFlow(id40(`n${i}-`), 2))];
  const config = parseConfig({ ...exampleConfigInput(), stackName: `S${'y'.repeat(127)}`, flowsPerStack: 2, flows });
  ({ stack } = synthStack(config, 'Budget'));
});

/** Every Lambda function of the stack and its nested stacks, with the bound of its environment. */
function functionsWithBounds(): { stack: Stack; logicalId: string; bound: number; variables: Record<string, unknown> }[] {
  const stacks = [stack, ...stack.node.findAll().filter((c): c is Stack => Stack.isStack(c) && c !== stack)];
  return stacks.flatMap((s) => {
    const template = Template.fromStack(s);
    const types = new Map(Object.entries(template.toJSON().Resources as Record<string, { Type: string }>).map(([k, r]) => [k, r.Type]));
    return Object.entries(template.findResources('AWS::Lambda::Function')).map(([logicalId, r]) => {
      const variables = (r.Properties.Environment?.Variables ?? {}) as Record<string, unknown>;
      return { stack: s, logicalId, variables, bound: resolvedEnvironmentBound(variables, types) };
    });
  });
}

describe("every function's environment, for the longest names CloudFormation can generate", () => {
  it('stays within 4 KB in the root stack and in nested stacks', () => {
    const all = functionsWithBounds();
    expect(all.length).toBeGreaterThan(40);
    for (const f of all) expect(f.bound, `${f.stack.stackName}/${f.logicalId}`).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT);
  });

  it('moves the resource names of a flow too big for it into one SSM parameter the admin function alone may read', () => {
    const big = stack.flows[id40('big')]!;
    const s = Stack.of(big);
    const template = Template.fromStack(s);
    const adminId = s.getLogicalId(big.adminFunction.node.defaultChild as never);
    const variables = template.toJSON().Resources[adminId].Properties.Environment.Variables as Record<string, unknown>;
    expect(variables.FLOW_RESOURCES).toBeUndefined();
    const parameterRef = variables.SYNCLINE_ENVIRONMENT_PARAMETER as { Ref: string };
    const parameter = template.toJSON().Resources[parameterRef.Ref];
    expect(parameter.Type).toBe('AWS::SSM::Parameter');
    expect(JSON.stringify(parameter.Properties.Value)).toMatch(/FLOW_RESOURCES.*queues/);
    // Readable with GetParameter by the admin function, and by no other function of the flow.
    const readers = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('ssm:GetParameter'));
    expect(readers).toHaveLength(1);
    expect(JSON.stringify(readers[0]![1].Properties.Roles)).toContain(s.getLogicalId(big.adminFunction.role!.node.defaultChild as never));
  });

  it('gives a parameter of each tier its own logical id, so shrinking a flow replaces an advanced parameter (SSM cannot make one standard)', () => {
    // Prepare: the same stack with the big flow's targets cut from 12 to 6, so its names fit a standard parameter.
    const flows = [bigFlow(id40('small'), 1), bigFlow(id40('big'), 6)];
    const { stack: shrunk } = synthStack(parseConfig({ ...exampleConfigInput(), stackName: `S${'y'.repeat(127)}`, flowsPerStack: 2, flows }), 'Budget');
    const parameters = (s: Stack) => Object.entries(Template.fromStack(s).findResources('AWS::SSM::Parameter')).map(([id, p]) => ({ id, tier: p.Properties.Tier as string }));

    // Assess
    const [before] = parameters(stack);
    const [after] = parameters(shrunk);
    expect([before!.tier, after!.tier]).toEqual(['Advanced', 'Standard']);
    expect(after!.id).not.toBe(before!.id);
  });

  it('keeps the names in the environment when they fit (no parameter for a small flow)', () => {
    const small = stack.flows[id40('small')]!;
    const s = Stack.of(small);
    const variables = Template.fromStack(s).toJSON().Resources[s.getLogicalId(small.adminFunction.node.defaultChild as never)].Properties.Environment.Variables;
    expect(variables.FLOW_RESOURCES).toBeDefined();
    expect(variables.SYNCLINE_ENVIRONMENT_PARAMETER).toBeUndefined();
  });
});

/** A flow with a source and a target of most kinds and 40-character ids: its admin role names many ARNs. */
const MANY_ARNS = {
  "id": "customer-master-data-synchronisation-002",
  "key": [
    "id"
  ],
  "pii": [
    "email",
    "phone"
  ],
  "sources": [
    {
      "id": "crm-webhook-standard-signature-source-01",
      "type": "webhook",
      "format": "json",
      "timestampField": "updated_at",
      "deleteWhen": {
        "event": [
          "contact.deleted"
        ]
      },
      "auth": {
        "type": "jira",
        "secretName": "jira-webhook-secret-flow-2"
      }
    },
    {
      "id": "orders-table-stream-by-name-source-00009",
      "type": "dynamodb-stream",
      "tableName": "orders-source-table-2",
      "filter": {
        "status": [
          {
            "anything-but": "draft"
          }
        ],
        "amount": [
          {
            "numeric": [
              ">",
              10
            ]
          }
        ]
      },
      "attributes": {
        "exclude": [
          "internalNotes"
        ]
      }
    },
    {
      "id": "inbound-orders-queue-source-sqs-00000013",
      "type": "sqs",
      "timestampField": "updatedAt"
    }
  ],
  "transform": {
    "rename": {
      "contact_id": "id"
    },
    "compute": {
      "fullName": "$trim(firstName & ' ' & lastName)"
    },
    "filter": {
      "status": [
        {
          "anything-but": "draft"
        }
      ]
    },
    "mask": {
      "email": "email",
      "phone": "last4"
    },
    "detectPii": "flag"
  },
  "conflict": {
    "strategy": "priority",
    "priority": {
      "*": [
        "orders-table-stream-by-name-source-00009",
        "crm-webhook-standard-signature-source-01"
      ],
      "email": [
        "inbound-orders-queue-source-sqs-00000013"
      ]
    }
  },
  "targets": [
    {
      "id": "existing-replica-table-by-name-target-01",
      "type": "dynamodb",
      "tableName": "people-replica-existing",
      "keyAttribute": "pk"
    },
    {
      "id": "existing-replica-table-by-arn-target-002",
      "type": "dynamodb",
      "tableName": "arn:aws:dynamodb:eu-west-1:444455556666:table/people",
      "keyAttribute": "id"
    },
    {
      "id": "created-replica-table-target-0000000003",
      "type": "dynamodb"
    },
    {
      "id": "data-lake-bucket-created-by-stack-tgt-04",
      "type": "s3",
      "prefix": "crm/"
    },
    {
      "id": "existing-kms-bucket-target-0000000000005",
      "type": "s3",
      "bucket": "existing-lake",
      "prefix": "x/",
      "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/abcd"
    },
    {
      "id": "crm-events-bus-target-000000000000000006",
      "type": "eventbridge",
      "busName": "crm-events",
      "detailType": "ContactChanged"
    },
    {
      "id": "jira-issues-http-create-oauth-target-007",
      "type": "http",
      "url": "https://acme.atlassian.net/rest/api/2/issue/{remoteId}",
      "method": "PUT",
      "body": "{\"fields\": {\"summary\": fullName}}",
      "create": {
        "url": "https://acme.atlassian.net/rest/api/2/issue",
        "method": "POST",
        "idPath": "id",
        "body": "{\"fields\": {\"project\": {\"key\": \"SYN\"}, \"summary\": fullName}}"
      },
      "auth": {
        "type": "oauth2",
        "tokenUrl": "https://auth.atlassian.com/oauth/token",
        "secretName": "jira-oauth",
        "clientAuth": "basic"
      },
      "rateLimitPerSecond": 25
    },
    {
      "id": "peer-syncline-webhook-http-target-00008",
      "type": "http",
      "url": "https://peer.example.com/webhooks/x/{key}",
      "method": {
        "upsert": "POST",
        "delete": "DELETE"
      },
      "auth": {
        "type": "webhook",
        "secretName": "peer-whsec"
      },
      "allowPii": [
        "email"
      ]
    },
    {
      "id": "people-changes-queue-target-sqs-00000009",
      "type": "sqs",
      "queueArn": "arn:aws:sqs:eu-west-1:111122223333:people-changes",
      "kmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
  ],
  "audit": {
    "level": "decisions",
    "retentionDays": 30
  }
};

describe("every role's inline policy, for the longest ARNs", () => {
  it("stays within IAM's 10,240 characters with every reference 216 characters long (a table ARN of a 128-character stack name)", () => {
    // Prepare: CDK moves statements to managed policies by an estimate of each ARN's length, 150 unless told.
    const config = parseConfig({ ...exampleConfigInput(), stackName: `S${'y'.repeat(127)}`, flows: [MANY_ARNS] });
    const { stack: named } = synthStack(config, 'LongArns');
    const longArn = JSON.stringify('a'.repeat(216));

    // Assess: every reference (a table's, a queue's, a secret's ARN) at its longest; literal text as it is.
    const sizes = Object.entries(Template.fromStack(named).findResources('AWS::IAM::Policy')).map(
      ([id, p]) => [id, JSON.stringify(p.Properties.PolicyDocument).replace(/\{"(?:Ref|Fn::GetAtt|Fn::ImportValue)":[^{}]*\}/g, longArn).length] as const,
    );
    expect(sizes.length).toBeGreaterThan(10);
    for (const [id, size] of sizes) expect(size, id).toBeLessThanOrEqual(10_240);
  });
});

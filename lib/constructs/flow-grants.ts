import { Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { StoreTableId } from '../../functions/plan/store-tables';

/**
 * The partition keys one flow's items have in each shared table (see the adapters in functions/adapters):
 * state `<flow>#<key>`, `~delivered#<flow>#...` and `~pull#<flow>#...`; audit `<flow>#<key>` (and its index's
 * `flowHour`, `<flow>#<hour>`); quarantine and conflicts `<flow>` (and the open index's `openFlow`, `<flow>`);
 * dedup `<flow>/<source>#<id>`. Flow ids match `^[a-z][a-z0-9-]*$`, so neither `#`, `/` nor a wildcard can
 * make one flow's pattern match another flow's keys (`crm#*` never matches `crm-contacts#1`).
 */
export function flowLeadingKeys(kind: StoreTableId, flowId: string): string[] {
  switch (kind) {
    case 'state':
      return [`${flowId}#*`, `~delivered#${flowId}#*`, `~pull#${flowId}#*`];
    case 'audit':
      return [`${flowId}#*`];
    case 'quarantine':
    case 'conflicts':
      return [flowId];
    case 'dedup':
      return [`${flowId}/*`];
  }
}

export interface FlowItemGrant {
  readonly kind: StoreTableId;
  readonly flowId: string;
  readonly actions: readonly string[];
  /** Index names the actions (Query) also apply to. */
  readonly indexes?: readonly string[];
  /** Leave the table itself out (an index-only Query). @default false */
  readonly indexOnly?: boolean;
  /** Narrower partition-key patterns than the flow's whole set (e.g. a pull's own `~pull#` items). */
  readonly leadingKeys?: readonly string[];
}

/**
 * Item-level actions on a shared table, limited to one flow's items with `dynamodb:LeadingKeys`
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html). Every key of a
 * batch must match (`ForAllValues`), and the `Null` check refuses a request that carries no partition key at all
 * (a Scan), which `ForAllValues` alone would let through. On an index Query the same patterns hold for the index's
 * partition key and the table's, so whichever of the two the condition is evaluated against, it allows exactly
 * this flow's items.
 */
export function grantFlowItems(grantee: IGrantable, table: ITable, grant: FlowItemGrant): void {
  const resources = [
    ...(grant.indexOnly ? [] : [table.tableArn]),
    ...(grant.indexes ?? []).map((index) => `${table.tableArn}/index/${index}`),
  ];
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [...grant.actions],
      resources,
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...(grant.leadingKeys ?? flowLeadingKeys(grant.kind, grant.flowId))] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
      },
    }),
  );
}

/**
 * Item-level actions on a table that is not shared between flows. Unlike `ITable.grant`, it leaves out
 * `<table>/index/*`, which writes never need, so no wildcard resource appears.
 */
export function grantOnTable(table: ITable, grantee: IGrantable, ...actions: string[]): Grant {
  return Grant.addToPrincipal({ grantee, actions, resourceArns: [table.tableArn] });
}

/**
 * `dynamodb:GetItem` of only these attributes of a table's items
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_dynamodb_attributes.html): the
 * request must name its attributes (`Select` SPECIFIC_ATTRIBUTES, as a ProjectionExpression does) and name no other.
 */
export function grantAttributeRead(table: ITable, grantee: IGrantable, attributes: readonly string[]): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['dynamodb:GetItem'],
      resources: [table.tableArn],
      conditions: {
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...attributes] },
        StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
      },
    }),
  );
}

/**
 * `sqs:SendMessage` (which also authorizes SendMessageBatch) and nothing else: the functions address queues by URL,
 * so `grantSendMessages`' GetQueueUrl and GetQueueAttributes would be unused. The queues are SQS-managed encrypted
 * (no KMS key to grant).
 */
export function grantSend(queue: IQueue, grantee: IGrantable): Grant {
  return Grant.addToPrincipal({ grantee, actions: ['sqs:SendMessage'], resourceArns: [queue.queueArn] });
}

/**
 * `secretsmanager:GetSecretValue` only (the adapters never call DescribeSecret, which `grantRead` adds). A secret
 * imported by name has a random six-character ARN suffix, matched by `-??????`.
 */
export function grantSecretValue(secret: ISecret, grantee: IGrantable): Grant {
  return Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: [secretArnForPolicies(secret)] });
}

export function secretArnForPolicies(secret: ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

/** The ARN of a bus given by name (in the stack's account and region) or by ARN. */
export function busArn(scope: Construct, nameOrArn: string): string {
  return nameOrArn.startsWith('arn:') ? nameOrArn : Stack.of(scope).formatArn({ service: 'events', resource: 'event-bus', resourceName: nameOrArn });
}

import { ArnFormat, Duration, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IDestination } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { schedulerCron } from '../../functions/config/cron';
import { parseDurationMs } from '../../functions/core/duration';
import type { SourceConfig } from '../../functions/config/schema';
import type { FlowPlan, FunctionPlan } from '../../functions/plan/plan';
import type { SynclineFunction } from './function-defaults';

type ScheduleSource = Extract<SourceConfig, { type: 'schedule' }>;

/** Resources of the store that a pull needs beyond what SyncFlow grants every capture function. */
export interface ScheduleTriggerOptions {
  /** The state table: run state, per-key hashes and seen keys live there. */
  readonly stateTable: ITable;
  /**
   * Times Scheduler retries a failed invocation before dead-lettering it.
   * @default 2
   */
  readonly retryAttempts?: number;
}

/** What {@link addScheduleTrigger} created, for outputs, alarms and tests. */
export interface ScheduleTrigger {
  readonly schedule: Schedule;
  /** Receives scheduled invocations that failed after the retries. */
  readonly deadLetterQueue: Queue;
}

/** `every` ("5 minutes", "1 h", "60s") as a Scheduler rate; the config schema has already refused what is not whole minutes. */
export function rateOf(every: string): Duration {
  const minutes = parseDurationMs(every) / 60_000;
  if (!Number.isInteger(minutes) || minutes < 1) throw new Error(`"${every}" is not whole minutes, at least one: EventBridge Scheduler runs rates in minutes`);
  return minutes % 1440 === 0 ? Duration.days(minutes / 1440) : minutes % 60 === 0 ? Duration.hours(minutes / 60) : Duration.minutes(minutes);
}

/** A source's `cron` as Scheduler takes it (see functions/config/cron.ts); the config schema has already refused what cannot be converted. */
export const cronExpression = schedulerCron;

/**
 * A role for EventBridge Scheduler to invoke one function. Our own (not the stack-wide singleton), so its one
 * finding is acknowledged right here; `what` names the function in the reason.
 */
export function schedulerRoleFor(scope: Construct, id: string, fn: SynclineFunction, what: string): Role {
  const role = new Role(scope, id, { assumedBy: new ServicePrincipal('scheduler.amazonaws.com') });
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*]`,
    reason: `The scheduler's LambdaInvoke target grants lambda:InvokeFunction on ${what} and its versions and aliases (ARN:*); it can invoke nothing else.`,
  });
  return role;
}

/**
 * Wires a `schedule` source's capture function: an EventBridge Scheduler schedule (rate or cron) that invokes it
 * with `{"action": "schedule", "sourceId": ...}`, with a retry policy and a dead-letter queue; and the pull's
 * permissions: the state table (run state, hashes, seen keys), its own function (asynchronous continuation of a
 * long pull), and read access to exactly the source: the bucket prefix or the HTTP auth secret.
 */
export function addScheduleTrigger(
  scope: Construct,
  fn: SynclineFunction,
  flowPlan: FlowPlan,
  plan: FunctionPlan,
  options?: ScheduleTriggerOptions,
): ScheduleTrigger {
  const flow = flowPlan.flow;
  const source = flow.sources.find((s): s is ScheduleSource => s.id === plan.sourceId && s.type === 'schedule');
  if (!source) throw new Error(`addScheduleTrigger: flow "${flow.id}" function "${plan.id}" is not the capture function of a schedule source`);
  if (!options?.stateTable) throw new Error(`addScheduleTrigger: flow "${flow.id}" source "${source.id}" needs the state table (options.stateTable)`);
  const stack = Stack.of(scope);
  const role = fn.role!;
  const id = plan.id;

  const deadLetterQueue = new Queue(scope, `${id}-schedule-dlq`, {
    retentionPeriod: Duration.days(14),
    enforceSSL: true,
    encryption: QueueEncryption.SQS_MANAGED,
  });
  Validations.of(deadLetterQueue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: "This queue is the dead-letter queue of the schedule (EventBridge Scheduler's, and the function's on-failure destination for its asynchronous invocations): it holds invocations that failed after their retries, for inspection; a DLQ behind it would never receive anything.",
  });

  const schedulerRole = schedulerRoleFor(scope, `${id}-scheduler-role`, fn, `the pull function of "${source.id}"`);

  const expression = source.every ? ScheduleExpression.rate(rateOf(source.every)) : ScheduleExpression.expression(cronExpression(source.cron!));
  const schedule = new Schedule(scope, `${id}-schedule`, {
    description: `syncline ${flow.id}/${source.id}: periodic pull`,
    schedule: expression,
    target: new LambdaInvoke(fn, {
      input: ScheduleTargetInput.fromObject({ action: 'schedule', sourceId: source.id }),
      deadLetterQueue,
      role: schedulerRole,
      retryAttempts: options.retryAttempts ?? 2,
      // A pull that could not start within an hour is superseded by the next one.
      maxEventAge: Duration.hours(1),
    }),
  });

  // State table: run state and lease (GetItem/UpdateItem), hashes and seen keys (BatchGetItem/BatchWriteItem), all
  // under this source's own `~pull#<flow>#<source>` keys (functions/adapters/dynamodb-pull-state-store.ts).
  const policy = new Policy(scope, `${id}-pull-policy`, { roles: [role] });
  const statements = [
    new PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'],
      resources: [options.stateTable.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`~pull#${flow.id}#${source.id}`, `~pull#${flow.id}#${source.id}#*`] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
      },
    }),
  ];
  if (source.s3) {
    const { bucket, prefix } = source.s3;
    const bucketArn = stack.formatArn({ service: 's3', region: '', account: '', resource: bucket });
    statements.push(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
      }),
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [`${bucketArn}/${prefix}*`] }),
    );
    // A bucket encrypting with a customer managed key: reading an object decrypts its data key.
    if (source.s3.kmsKeyArn) statements.push(new PolicyStatement({ actions: ['kms:Decrypt'], resources: [source.s3.kmsKeyArn] }));
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket}/${prefix}*]`,
      reason: `The pull of schedule source "${source.id}" reads every object under the configured prefix "${prefix}" of bucket "${bucket}", whose names are not known at deploy time; only s3:GetObject is allowed there.`,
    });
  }
  if (source.http?.auth) {
    const name = source.http.auth.secretName;
    statements.push(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        // A secret named (not created) here has a random six-character ARN suffix.
        resources: [name.startsWith('arn:') ? name : stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${name}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    );
    if (!name.startsWith('arn:')) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${name}-??????]`,
        reason: `The auth secret "${name}" of schedule source "${source.id}" is named in the config, not created by the stack; Secrets Manager appends a random six-character suffix to its ARN, which "-??????" matches exactly.`,
      });
    }
  }
  // Continuation of a long pull: the function invokes itself asynchronously. A separate policy (not the role's
  // default policy, which the function depends on) avoids a dependency cycle.
  statements.push(new PolicyStatement({ effect: Effect.ALLOW, actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
  // Lambda's on-failure destination of its asynchronous invocations (below) sends with the function's role.
  statements.push(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deadLetterQueue.queueArn] }));
  policy.addStatements(...statements);
  // The first scheduled pull must find its permissions attached: the schedule is created after the policy.
  schedule.node.addDependency(policy);
  // Scheduler's retry policy and dead-letter queue cover only handing the event to Lambda, which runs it
  // asynchronously: a pull or continuation that throws is retried by Lambda, then goes to the same queue, so the
  // schedule DLQ alarm tells. The event is `{action, sourceId}`, never a record.
  // (SendMessage is in the pull policy above: SqsDestination would also grant GetQueueAttributes and GetQueueUrl.)
  const onFailure: IDestination = { bind: () => ({ destination: deadLetterQueue.queueArn }) };
  fn.configureAsyncInvoke({ onFailure, retryAttempts: 2, maxEventAge: Duration.hours(1) });
  // Lambda checks that the role may send to the destination when the config is created: after the policy.
  fn.node.findChild('EventInvokeConfig').node.addDependency(policy);

  return { schedule, deadLetterQueue };
}

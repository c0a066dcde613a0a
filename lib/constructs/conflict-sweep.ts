import { Duration } from 'aws-cdk-lib';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import type { FlowPlan, FunctionPlan } from '../../functions/plan/plan';
import type { SynclineFunction } from './function-defaults';
import { rateOf, schedulerRoleFor } from './schedule-source';

/**
 * Runs a manual flow's conflict sweep on an EventBridge Scheduler rate schedule (the plan's `every`: 1 or 5
 * minutes). A sweep that fails or is throttled is not retried, by Scheduler or by Lambda's asynchronous retries:
 * the next scheduled sweep does the same work, and overlapping sweeps would only race on the conditional transitions.
 */
export function addConflictSweepSchedule(scope: Construct, fn: SynclineFunction, flowPlan: FlowPlan, plan: FunctionPlan): Schedule {
  const flow = flowPlan.flow;
  if (plan.handler !== 'conflict-sweep' || plan.trigger.type !== 'schedule' || !plan.trigger.every) {
    throw new Error(`addConflictSweepSchedule: flow "${flow.id}" function "${plan.id}" is not a conflict sweep with a rate`);
  }
  fn.configureAsyncInvoke({ retryAttempts: 0 });
  const what = flow.conflict.autoResolveAfter
    ? `closes conflicts a newer edit replaced, settles those open longer than ${flow.conflict.autoResolveAfter} with ${flow.conflict.autoResolveWith}, and publishes OpenConflicts`
    : 'closes conflicts a newer edit replaced, and publishes OpenConflicts';
  return new Schedule(scope, `${plan.id}-schedule`, {
    description: `syncline ${flow.id}: conflict sweep every ${plan.trigger.every} (${what})`,
    schedule: ScheduleExpression.rate(rateOf(plan.trigger.every)),
    target: new LambdaInvoke(fn, {
      input: ScheduleTargetInput.fromObject({ action: 'sweep' }),
      role: schedulerRoleFor(scope, `${plan.id}-scheduler-role`, fn, `the conflict sweep function of flow "${flow.id}"`),
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
    }),
  });
}

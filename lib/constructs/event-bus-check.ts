import { Annotations } from 'aws-cdk-lib';
import { deployEnv } from './deploy-env';
import type { IConstruct } from 'constructs';
import { SynthProblem } from '../stacks/synth-problem';

/**
 * An `eventbridge` source's bus given by ARN must be in the stack's region and account: a rule delivers to an SQS
 * queue of its own region only, and EventBridge refuses PutTargets from another account than the bus's for any
 * target but a bus (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-cross-account.html). Refused
 * when the target environment is known (deployEnv); otherwise a synth warning says what to check.
 */
export function checkSourceBus(scope: IConstruct, flowId: string, sourceId: string, busName: string): void {
  const m = /^arn:[^:]+:events:([^:]*):([^:]*):event-bus\/.+$/.exec(busName);
  if (!m) return;
  const [, region, account] = m as unknown as [string, string, string];
  const target = deployEnv(scope);
  const where = `flow "${flowId}" source "${sourceId}": busName ${busName}`;
  const forward = 'have a rule on that bus send its events to a bus in this account and region, and name that bus';
  if (target.region !== undefined && region !== target.region) throw new SynthProblem(`${where} is a bus of ${region}, but the stack deploys to ${target.region}; a rule delivers to a queue of its own region only: ${forward}`);
  if (target.account !== undefined && account !== target.account) throw new SynthProblem(`${where} is a bus of account ${account}, not the stack's (${target.account}); EventBridge takes a queue of another account as a rule's target only when set from the bus's own account: ${forward}`);
  if (target.region === undefined || target.account === undefined) {
    Annotations.of(scope).addWarningV2(
      'syncline:event-bus-arn',
      `${where}: the bus must be in the stack's account and region (the stack's environment is not known at synth, so this is not checked): a bus of another region or account cannot feed this stack's queue; ${forward}`,
    );
  }
}

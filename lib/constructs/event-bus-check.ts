import { Annotations } from 'aws-cdk-lib';
import { deployEnv } from './deploy-env';
import type { IConstruct } from 'constructs';
import { SynthProblem } from '../stacks/synth-problem';

/**
 * An `eventbridge` source's bus given by ARN must be in the stack's region and account: a rule delivers to an SQS
 * queue of its own region only, and EventBridge refuses PutTargets from another account than the bus's for any
 * target but a bus (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-cross-account.html). Refused
 * when the stack's environment is known; otherwise a synth warning says what to check (and names the CDK CLI's target when it differs).
 */
export function checkSourceBus(scope: IConstruct, flowId: string, sourceId: string, busName: string): void {
  const m = /^arn:[^:]+:events:([^:]*):([^:]*):event-bus\/.+$/.exec(busName);
  if (!m) return;
  const [, region, account] = m as unknown as [string, string, string];
  const { fixed, likely } = deployEnv(scope);
  const where = `flow "${flowId}" source "${sourceId}": busName ${busName}`;
  const forward = 'have a rule on that bus send its events to a bus in this account and region, and name that bus';
  if (fixed.region !== undefined && region !== fixed.region) throw new SynthProblem(`${where} is a bus of ${region}, but the stack deploys to ${fixed.region}; a rule delivers to a queue of its own region only: ${forward}`);
  if (fixed.account !== undefined && account !== fixed.account) throw new SynthProblem(`${where} is a bus of account ${account}, not the stack's (${fixed.account}); EventBridge takes a queue of another account as a rule's target only when set from the bus's own account: ${forward}`);
  if (fixed.region === undefined || fixed.account === undefined) {
    const elsewhere = (likely.region !== undefined && region !== likely.region) || (likely.account !== undefined && account !== likely.account);
    Annotations.of(scope).addWarningV2(
      'syncline:event-bus-arn',
      elsewhere
        ? `${where} is a bus of ${account}/${region}, but the CDK CLI targets ${likely.account ?? '(unknown account)'}/${likely.region ?? '(unknown region)'}: a bus of another region or account cannot feed this stack's queue, so deploy there or ${forward}`
        : `${where}: the bus must be in the stack's account and region (the stack's environment is not known at synth, so this is not checked): a bus of another region or account cannot feed this stack's queue; ${forward}`,
    );
  }
}

import { Annotations, Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { SynthProblem } from '../stacks/synth-problem';

/**
 * An `eventbridge` source's bus given by ARN must be in the stack's region and account: a rule delivers to an SQS
 * queue of its own region only, and EventBridge refuses PutTargets from another account than the bus's for any
 * target but a bus (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-cross-account.html). Refused
 * when the stack's environment is known; otherwise a synth warning says what to check.
 */
export function checkSourceBus(scope: IConstruct, flowId: string, sourceId: string, busName: string): void {
  const m = /^arn:[^:]+:events:([^:]*):([^:]*):event-bus\/.+$/.exec(busName);
  if (!m) return;
  const [, region, account] = m as unknown as [string, string, string];
  const stack = Stack.of(scope);
  const where = `flow "${flowId}" source "${sourceId}": busName ${busName}`;
  const forward = 'have a rule on that bus send its events to a bus in this account and region, and name that bus';
  if (!Token.isUnresolved(stack.region) && region !== stack.region) throw new SynthProblem(`${where} is a bus of ${region}, but the stack deploys to ${stack.region}; a rule delivers to a queue of its own region only: ${forward}`);
  if (!Token.isUnresolved(stack.account) && account !== stack.account) throw new SynthProblem(`${where} is a bus of account ${account}, not the stack's (${stack.account}); EventBridge takes a queue of another account as a rule's target only when set from the bus's own account: ${forward}`);
  if (Token.isUnresolved(stack.region) || Token.isUnresolved(stack.account)) {
    Annotations.of(scope).addWarningV2(
      'syncline:event-bus-arn',
      `${where}: the bus must be in the stack's account and region (the stack's environment is not known at synth, so this is not checked): a bus of another region or account cannot feed this stack's queue; ${forward}`,
    );
  }
}

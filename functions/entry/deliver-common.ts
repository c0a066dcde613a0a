import type { FlowConfig } from '../config/schema';
import type { BatchTargetWriter } from '../ports';
import { withClaimChecks } from '../handlers/claim-checks';
import { deliverTarget as wireDeliverTarget } from '../wiring/deliver';
import { bakedFlow } from './baked';
import { instrumented, requireEnv } from './env';
import { lambdaStepContext } from './step-context';

type TargetOf<T extends FlowConfig['targets'][number]['type']> = Extract<FlowConfig['targets'][number], { type: T }>;

/** The baked flow, this function's target (checked to be of `type`) and the step's context. */
export function deliverTarget<T extends FlowConfig['targets'][number]['type']>(type: T, readsSecrets: (target: TargetOf<T>) => boolean = () => false) {
  const flow = bakedFlow();
  const targetId = requireEnv('TARGET_ID');
  const target = flow.targets.find((t) => t.id === targetId);
  if (!target || target.type !== type) throw new Error(`TARGET_ID "${targetId}" is not a ${type} target of flow "${flow.id}"`);
  return { flow, target: target as TargetOf<T>, ...lambdaStepContext(flow, 'deliver', { readsSecrets: readsSecrets(target as TargetOf<T>) }) };
}

/** The Lambda handler of a batch target: state, audit, the writer, and rejected records parked in DLQ_URL. */
export function deliverTargetLambda(step: ReturnType<typeof lambdaStepContext>, targetId: string, writer: BatchTargetWriter) {
  const { ctx, logger, metrics, payloads } = step;
  return instrumented(withClaimChecks(wireDeliverTarget(ctx, targetId, writer, requireEnv('DLQ_URL')), payloads, ctx.logger), { logger, metrics });
}

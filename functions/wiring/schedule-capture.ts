import { createScheduleCaptureHandler, type ScheduleCaptureDeps } from '../handlers/schedule-capture-handler';
import type { PullReader } from '../ports';
import { captureDeps } from './capture';
import { pullStateStore, type StepContext } from './step-context';

/** A schedule source's pull: the reader and how a run continues differ between Lambda and the local runtime. */
export function scheduleCapture(
  ctx: StepContext,
  sourceId: string,
  reader: PullReader,
  options: Pick<ScheduleCaptureDeps, 'continueSoon' | 'hashKey'> = {},
) {
  return createScheduleCaptureHandler({ ...captureDeps(ctx, sourceId), reader, pullState: pullStateStore(ctx), ...options });
}

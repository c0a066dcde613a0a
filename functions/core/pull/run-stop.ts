import { SynclineError } from '../errors';
/**
 * A reader's signal that the run must stop now as partial (no retry, no delete inference): the runaway guard, or a
 * next page on another host. Other reader errors are retried by the next invocations.
 */
export class RunStopError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'RunStopError';
  }
}

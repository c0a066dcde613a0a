import { timerSleep, type Sleep } from '../ports';

/** A token bucket: `ratePerSecond` tokens a second, holding at most `burst`; `take()` waits for a token. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number = Math.max(1, Math.floor(ratePerSecond)),
    private readonly now: () => number = Date.now,
    private readonly sleep: Sleep = timerSleep,
  ) {
    if (!(ratePerSecond > 0)) throw new Error('rate must be positive');
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Resolves when a token was taken; callers are served in order. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.takeNow());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async takeNow(): Promise<void> {
    for (;;) {
      const t = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
      this.last = t;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000));
    }
  }
}

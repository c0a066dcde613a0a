import type { PullSummary } from '../../functions/core/pull/pull-run';
import { parseDurationMs } from '../../functions/core/duration';
import type { ScheduleCaptureHandler, ScheduleCaptureInput } from '../../functions/handlers/schedule-capture-handler';
import { lambdaContext } from './sqs-poller';
import { messageOf } from '../../functions/core/errors';

/** One parsed cron field: the allowed values, or undefined for "any" (`*` or `?`). */
type Field = ReadonlySet<number> | undefined;

export interface Cron {
  readonly minute: Field;
  readonly hour: Field;
  readonly dom: Field;
  readonly month: Field;
  /** 0 = Sunday ... 6 = Saturday. */
  readonly dow: Field;
  readonly year: Field;
  /** Whether day-of-month / day-of-week were given as `?` (EventBridge) rather than `*`. */
  readonly domAny: 'star' | 'question' | 'set';
  readonly dowAny: 'star' | 'question' | 'set';
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function parseField(text: string, min: number, max: number, names: readonly string[] = [], nameBase = 1): Field {
  if (text === '*' || text === '?') return undefined;
  const value = (v: string) => {
    const i = names.indexOf(v.toUpperCase());
    const n = i >= 0 ? i + nameBase : Number(v);
    if (!/^\d+$/.test(v) && i < 0) throw new Error(`"${text}" is not supported locally (only *, ?, lists, ranges, steps and names)`);
    if (n < min || n > max) throw new Error(`${n} is out of range ${min}-${max}`);
    return n;
  };
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^([^/-]+|\*)(?:-([^/]+))?(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not supported locally (only *, ?, lists, ranges, steps and names)`);
    const step = m[3] ? Number(m[3]) : 1;
    if (step < 1) throw new Error(`step in "${part}" must be at least 1`);
    const from = m[1] === '*' ? min : value(m[1]!);
    const to = m[2] ? value(m[2]) : m[1] === '*' || m[3] ? max : from;
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

/**
 * Parses an EventBridge cron (`cron(min hour dom month dow year)`, or its inside; day of week 1-7 = SUN-SAT) or a
 * five-field Unix cron (day of week 0-7, 0 and 7 = Sunday), the forms the stack accepts. `L`, `W` and `#` are
 * not supported locally: the caller runs such a source on demand only.
 */
export function parseCron(expression: string): Cron {
  const inner = expression.trim().replace(/^cron\((.*)\)$/s, '$1').trim();
  const fields = inner.split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) throw new Error(`cron "${expression}" must have 5 (Unix) or 6 (EventBridge) fields`);
  const aws = fields.length === 6;
  const [mi, h, dom, mo, dow, y] = fields as [string, string, string, string, string, string?];
  let dows = parseField(dow, aws ? 1 : 0, 7, DAYS, aws ? 1 : 0);
  if (dows) dows = new Set([...dows].map((d) => (aws ? d - 1 : d % 7)));
  const kind = (t: string) => (t === '?' ? 'question' : t === '*' ? 'star' : 'set') as Cron['domAny'];
  return {
    minute: parseField(mi, 0, 59),
    hour: parseField(h, 0, 23),
    dom: parseField(dom, 1, 31),
    month: parseField(mo, 1, 12, MONTHS),
    dow: dows,
    year: y ? parseField(y, 1970, 2199) : undefined,
    domAny: kind(dom),
    dowAny: kind(dow),
  };
}

const has = (f: Field, v: number) => f === undefined || f.has(v);

function dayMatches(cron: Cron, d: Date): boolean {
  const dom = has(cron.dom, d.getUTCDate());
  const dow = has(cron.dow, d.getUTCDay());
  // Unix: when both day fields are restricted, either may match.
  if (cron.domAny === 'set' && cron.dowAny === 'set') return dom || dow;
  return dom && dow;
}

/** The first minute strictly after `after` (UTC, as Scheduler's default time zone) that the cron fires; undefined within 5 years. */
export function nextCronTime(cron: Cron, after: number): number | undefined {
  const d = new Date(Math.floor(after / 60_000) * 60_000 + 60_000);
  const limit = after + 5 * 366 * 86_400_000;
  while (d.getTime() <= limit) {
    if (!has(cron.year, d.getUTCFullYear()) || !has(cron.month, d.getUTCMonth() + 1) || !dayMatches(cron, d)) {
      d.setUTCDate(d.getUTCDate() + 1);
      d.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!has(cron.hour, d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!has(cron.minute, d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return d.getTime();
  }
  return undefined;
}

export interface LocalScheduleOptions {
  /** Function name, for logs and the Lambda context. */
  readonly name: string;
  readonly sourceId: string;
  readonly every?: string;
  readonly cron?: string;
  readonly timeoutSeconds: number;
  /** Builds the handler, given the `continueSoon` that re-invokes it locally. */
  readonly createHandler: (continueSoon: (input: ScheduleCaptureInput) => Promise<void>) => ScheduleCaptureHandler;
  readonly log?: (line: string) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * A `schedule` source's trigger, locally: a timer for `every` or `cron` (what EventBridge Scheduler does in
 * AWS), on-demand runs (`POST .../pull`), and asynchronous continuations of a run that stopped at its deadline.
 */
export class LocalSchedule {
  private readonly handler: ScheduleCaptureHandler;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly running = new Set<Promise<unknown>>();
  private nextAt: number | undefined;
  /** Why the timer does not run, when it does not (an unsupported cron). */
  readonly manualOnly: string | undefined;
  private readonly cron: Cron | undefined;

  constructor(private readonly options: LocalScheduleOptions) {
    this.handler = options.createHandler(async (input) => {
      // Lambda's asynchronous self-invoke: the current invocation returns first.
      setImmediate(() => {
        if (!this.stopping) this.track(this.invoke(input)).catch(() => undefined);
      });
    });
    let cron: Cron | undefined;
    let manualOnly: string | undefined;
    if (options.cron) {
      try {
        cron = parseCron(options.cron);
      } catch (err) {
        manualOnly = `cron "${options.cron}" cannot be scheduled locally (${messageOf(err)}); run it with POST /flows/.../sources/${options.sourceId}/pull`;
      }
    }
    this.cron = cron;
    this.manualOnly = manualOnly;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private log(line: string): void {
    (this.options.log ?? ((l) => console.error(l)))(line);
  }

  /** Arms the timer (no-op for a manual-only source). */
  start(): void {
    if (this.manualOnly) this.log(`[${this.options.name}] ${this.manualOnly}`);
    this.arm();
  }

  /** When the timer fires next (epoch ms), if it runs. */
  get next(): number | undefined {
    return this.nextAt;
  }

  private arm(): void {
    if (this.stopping || this.manualOnly) return;
    const now = this.now();
    const at = this.options.every ? now + parseDurationMs(this.options.every) : this.cron ? nextCronTime(this.cron, now) : undefined;
    this.nextAt = at;
    if (at === undefined) return;
    // setTimeout holds at most ~24.8 days: re-arm on the way.
    const wait = Math.min(at - now, 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      if (this.now() + 1000 < at) return this.arm();
      this.track(this.invoke({ action: 'schedule', sourceId: this.options.sourceId })).catch(() => undefined);
      this.arm();
    }, wait);
    this.timer.unref();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    const done = () => this.running.delete(p);
    p.then(done, done);
    return p;
  }

  /** Runs the capture function once, as Lambda would, and answers its pull summary. */
  async invoke(input: ScheduleCaptureInput): Promise<PullSummary> {
    const context = lambdaContext(this.options.name, this.options.timeoutSeconds);
    const deadline = this.now() + this.options.timeoutSeconds * 1000;
    // Stopping the runtime makes the run checkpoint at its next page, as it does before a Lambda timeout.
    const remaining = () => (this.stopping ? 0 : Math.max(0, deadline - this.now()));
    const run = this.handler(input, { ...context, getRemainingTimeInMillis: remaining });
    const tracked = this.track(run);
    try {
      const summary = await tracked;
      if (input.action !== 'pull' || summary.error) {
        const s = summary;
        this.log(`[${this.options.name}] ${input.action}: ${s.records} records, ${s.changed} changed, ${s.deletesInferred} deletes${s.error ? `, error: ${s.error}` : ''}${s.continued ? ', continues' : ''}`);
      }
      return summary;
    } catch (err) {
      this.log(`[${this.options.name}] ${input.action} failed: ${messageOf(err)}`);
      throw err;
    }
  }

  /** No run in progress. */
  idle(): boolean {
    return this.running.size === 0;
  }

  /** Stops the timer and waits for runs in progress (they checkpoint at their next page). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}

export interface LocalTimerOptions {
  /** Function name, for logs. */
  readonly name: string;
  /** Time between the end of one run and the start of the next. */
  readonly everyMs: number;
  readonly run: () => Promise<unknown>;
  readonly log?: (line: string) => void;
}

/**
 * A function run on a fixed interval, locally (what a rate schedule does in AWS): one run at a time, a failed run
 * logged and retried at the next tick, and `stop` waiting for a run in progress.
 */
export class LocalTimer {
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: LocalTimerOptions) {}

  start(): void {
    this.arm();
  }

  private arm(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.running = this.options
        .run()
        .then(
          () => undefined,
          (err: unknown) => (this.options.log ?? ((l) => console.error(l)))(`[${this.options.name}] failed: ${messageOf(err)}`),
        )
        .finally(() => {
          this.running = undefined;
          this.arm();
        });
    }, this.options.everyMs);
    this.timer.unref();
  }

  /** No run in progress. */
  idle(): boolean {
    return this.running === undefined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}

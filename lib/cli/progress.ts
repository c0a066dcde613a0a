import cliProgress from 'cli-progress';

/** Progress of one long operation (backfill, replay, redrive). */
export interface Progress {
  /** Sets the count done so far; `total` undefined draws an indeterminate bar. `label` names the current part. */
  update(value: number, total?: number, label?: string): void;
  /** Removes the bar; idempotent. */
  stop(): void;
}

/** A progress that draws nothing: for `--json`, pipes and tests. */
export const noProgress: Progress = { update: () => undefined, stop: () => undefined };

export interface ProgressOptions {
  /** What the operation does, e.g. "redrive orders". */
  readonly title: string;
  /** Where the bar goes. @default process.stderr */
  readonly stream?: NodeJS.WriteStream;
  /** `--json` asks for clean output: no bar. */
  readonly json?: boolean;
}

/**
 * A progress bar on stderr, drawn only when stderr is a terminal and `--json` is not set, so stdout stays
 * clean for scripts and piped runs print nothing extra.
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.json || !stream.isTTY) return noProgress;
  let label = '';
  let known = true;
  const bar = new cliProgress.SingleBar({
    stream,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 30,
    format: (opts, params) => {
      const head = `${options.title}${label ? ` ${label}` : ''}`;
      if (!known) return `${head} ${params.value} so far`;
      const size = opts.barsize ?? 30;
      const done = Math.round(Math.min(1, params.progress) * size);
      return `${head} [${'='.repeat(done)}${'-'.repeat(size - done)}] ${params.value}/${params.total} (${Math.floor(params.progress * 100)}%)`;
    },
  });
  let started = false;
  let stopped = false;
  return {
    update(value, total, part) {
      if (stopped) return;
      if (part !== undefined) label = part;
      known = total !== undefined && total > 0;
      const t = known ? Math.max(total!, value) : Math.max(value, 1);
      if (!started) {
        bar.start(t, value);
        started = true;
      } else {
        bar.setTotal(t);
        bar.update(value);
      }
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}

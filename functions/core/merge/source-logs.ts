import { compareVersion, describe, get, sameClock } from './clock';
import { put } from '../own-field';
import type { Change, Clock, ManualEntry, MergeContext, SourceLog, StrategyName } from './types';

/**
 * Changes that carry a log position (or leave fields as they are) are kept per source in a `SourceLog` rather than
 * given to the strategy directly. Within one source the log order decides, so a snapshot read at an earlier position
 * never overrides a streamed change at a later one, whatever their `ts`; the strategy then merges what each source
 * holds with the other sources by their clocks. Every step is a join (per-field maximum, newest delete, newest
 * upsert), so the result depends only on the set of changes, not on their order or repetition.
 */
export const goesToLog = (ch: Change): boolean => ch.clock.pos !== undefined || (ch.keep !== undefined && ch.keep.length > 0);

const newer = (ctx: MergeContext, a: Clock, b: Clock | undefined) => !b || ctx.cmp(a, b) > 0;

/** Joins one change into the source's log (in place); answers whether the logs changed. */
export function applyToLog(ctx: MergeContext, logs: Record<string, SourceLog>, ch: Change): boolean {
  const src = ch.clock.src;
  let log = get(logs, src);
  let changed = false;
  if (!log) {
    put(logs, src, (log = { f: {} }));
    changed = true;
  }
  if (ch.op === 'delete') {
    if (!newer(ctx, ch.clock, log.t)) return changed;
    log.t = ch.clock;
    for (const [field, e] of Object.entries(log.f)) if (!newer(ctx, e.c, log.t)) delete log.f[field];
    if (log.l && !newer(ctx, log.l.c, log.t)) delete log.l;
    return true;
  }
  if (!newer(ctx, ch.clock, log.t)) return changed;
  const data = ch.data ?? {};
  for (const [field, v] of Object.entries(data)) {
    const e: ManualEntry = { v, c: ch.clock };
    if (ch.before && Object.hasOwn(ch.before, field) && ch.before[field] !== undefined) e.b = ch.before[field];
    const cur = get(log.f, field);
    if (!cur || (ctx.cmp(e.c, cur.c) || compareVersion(ctx, e.c, { v: e.v, b: e.b }, cur.c, { v: cur.v, b: cur.b })) > 0) {
      put(log.f, field, e);
      changed = true;
    }
  }
  const n = Object.keys(data).sort();
  const k = ch.keep ? [...new Set(ch.keep)].filter((f) => !Object.hasOwn(data, f)).sort() : [];
  const next = { c: ch.clock, n, ...(k.length > 0 ? { k } : {}) };
  if (!log.l || compareVersion(ctx, next.c, { n, k }, log.l.c, { n: log.l.n, k: log.l.k ?? [] }) > 0) {
    log.l = next;
    changed = true;
  }
  return changed;
}

/**
 * What each source's log holds, as changes for the strategy. For `lww` a source's record is its latest upsert with
 * the fields that upsert left as they are taken from the latest change that carried them; per-field strategies get
 * the latest value of each field with its own clock.
 */
export function replayLogs(logs: Record<string, SourceLog> | undefined, strategy: StrategyName): Change[] {
  const out: Change[] = [];
  for (const src of Object.keys(logs ?? {}).sort()) {
    const log = logs![src]!;
    if (strategy === 'lww') {
      if (log.l) {
        const data: Record<string, unknown> = {};
        for (const field of [...log.l.n, ...(log.l.k ?? [])]) {
          const e = get(log.f, field);
          if (e) put(data, field, e.v);
        }
        out.push({ clock: log.l.c, op: 'upsert', data });
      }
    } else {
      const byClock = new Map<string, Change>();
      for (const [field, e] of Object.entries(log.f)) {
        const id = JSON.stringify(e.c);
        let ch = byClock.get(id);
        if (!ch) byClock.set(id, (ch = { clock: e.c, op: 'upsert', data: {} }));
        put(ch.data!, field, e.v);
        if (Object.hasOwn(e, 'b')) put((ch.before ??= {}), field, e.b);
      }
      out.push(...byClock.values());
    }
    if (log.t) out.push({ clock: log.t, op: 'delete' });
  }
  return out;
}

/** A copy of the logs that `applyToLog` may change without changing them (entries are shared, never changed in place). */
export function copyLogs(logs: Record<string, SourceLog>): Record<string, SourceLog> {
  const out: Record<string, SourceLog> = {};
  for (const [src, log] of Object.entries(logs)) put(out, src, { ...log, f: { ...log.f } });
  return out;
}

/** Whether a source's log holds this exact clock. */
export function logContains(logs: Record<string, SourceLog> | undefined, clock: Clock): boolean {
  const log = logs && get(logs, clock.src);
  if (!log) return false;
  return (log.t !== undefined && sameClock(log.t, clock)) || (log.l !== undefined && sameClock(log.l.c, clock)) || Object.values(log.f).some((e) => sameClock(e.c, clock));
}

/** Why a change lost within its own source's log, if it did: a later position (or delete) of that source. */
export function explainInLog(ctx: MergeContext, logs: Record<string, SourceLog> | undefined, ch: Change): string | undefined {
  const log = logs && get(logs, ch.clock.src);
  if (!log) return undefined;
  if (log.t && ctx.cmp(log.t, ch.clock) > 0) return `earlier in ${ch.clock.src}'s log than delete ${describe(log.t)}`;
  if (ch.op === 'upsert' && log.l && ctx.cmp(log.l.c, ch.clock) > 0) {
    const lost = Object.keys(ch.data ?? {}).filter((f) => !sameClock(get(log.f, f)?.c ?? log.l!.c, ch.clock));
    if (lost.length > 0 || Object.keys(ch.data ?? {}).length === 0) return `earlier in ${ch.clock.src}'s log than ${describe(log.l.c)}`;
  }
  return undefined;
}

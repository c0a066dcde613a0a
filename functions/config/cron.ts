import { SynclineError } from '../core/errors';
/**
 * Cron expressions as EventBridge Scheduler takes them, `cron(min hour dom month dow year)`
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html): day of week 1-7 = SUN-SAT,
 * no `/` in the day-of-week field, `#` alone in it, and exactly one of the two day fields `?`.
 * A five-field Unix cron (day of week 0-7, 0 and 7 = Sunday, either day field matching) is converted.
 */

export class CronError extends SynclineError {
  override readonly name = 'CronError';
}

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** A plain field (minutes, hours, month, year, a Unix day of month): values, ranges, lists and steps. */
function checkPlain(field: string, name: string, min: number, max: number, names: readonly string[] = []): void {
  for (const part of field.split(',')) {
    const m = /^(\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)(?:\/(\d+))?$/i.exec(part);
    if (!m) throw new CronError(`${name} "${field}" is not a value, range, list or step`);
    if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > max)) throw new CronError(`${name} step "/${m[2]}" must be 1-${max}`);
    if (m[1] === '*') continue;
    for (const v of m[1]!.split('-')) {
      const n = /^\d+$/.test(v) ? Number(v) : names.indexOf(v.toUpperCase()) + min;
      if (!(n >= min && n <= max) || (!/^\d+$/.test(v) && !names.includes(v.toUpperCase()))) throw new CronError(`${name} value "${v}" must be ${min}-${max}${names.length ? ` or ${names[0]}-${names.at(-1)}` : ''}`);
    }
  }
}

/** `*\/n` as Scheduler's examples write it (`0/15`): a start value and an increment. */
const startStep = (field: string, start: number) => field.replace(/^\*\//, `${start}/`);

/** A Unix day-of-week value (0-7 or SUN-SAT) as 0-6, Sunday 0. */
function unixDay(v: string): number {
  const name = DAY_NAMES.indexOf(v.toUpperCase());
  if (name >= 0) return name;
  if (!/^\d+$/.test(v) || Number(v) > 7) throw new CronError(`day of week "${v}" must be 0-7 (0 and 7 are Sunday) or SUN-SAT`);
  return Number(v) % 7;
}

/**
 * A Unix day-of-week field in Scheduler's numbering: ranges, lists and steps are expanded to a list of days
 * (Scheduler has no `/` there), `n#k` (the k-th n-day of the month) and `nL` (the last n-day) keep their form.
 */
function convertDayOfWeek(field: string): string {
  const nth = /^([0-7]|[A-Z]{3})#([1-5])$/i.exec(field);
  if (nth) return `${unixDay(nth[1]!) + 1}#${nth[2]}`;
  const last = /^([0-7]|[A-Z]{3})L$/i.exec(field);
  if (last) return `${unixDay(last[1]!) + 1}L`;
  if (/[#L]/i.test(field.replace(/[A-Z]{3}/gi, (n) => (DAY_NAMES.includes(n.toUpperCase()) ? '0' : n)))) {
    throw new CronError(`day of week "${field}": "#" and "L" take one day each ("1#2", "5L"), not in a list or range`);
  }
  const days = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^(\*|[0-9A-Z]+)(?:-([0-9A-Z]+))?(?:\/(\d+))?$/i.exec(part);
    if (!m) throw new CronError(`day of week "${field}" is not a value, range, list or step`);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (step < 1 || step > 7) throw new CronError(`day of week step "/${m[3]}" must be 1-7`);
    let from: number;
    let to: number;
    if (m[1] === '*') [from, to] = [0, 6];
    else {
      from = unixDay(m[1]!);
      // `n/s` runs from n to the end of the week; a range may end on 7 (Sunday) or wrap past it (FRI-SUN).
      to = m[2] !== undefined ? (m[2] === '7' ? 7 : unixDay(m[2])) : m[3] !== undefined ? 6 : from;
      if (to < from) to += 7;
    }
    for (let d = from; d <= to; d += step) days.add(d % 7);
  }
  return [...days].sort((a, b) => a - b).map((d) => d + 1).join(',');
}

/** Unix day of month: values, ranges, lists and steps, and the `L` / `nW` extensions Scheduler also has. */
function convertDayOfMonth(field: string): string {
  if (field === 'L' || /^([1-9]|[12]\d|3[01])W$/.test(field)) return field;
  checkPlain(field, 'day of month', 1, 31);
  return startStep(field, 1);
}

const restricted = (field: string) => field !== '*' && field !== '?';

/** Days in each month at most (February in a leap year). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Refuses a day of month that none of the months has (`30 2`: February 30th, `30-31 2`), which Scheduler takes and
 * never runs. Checked where the months are listed values; a day field's earliest day is what counts.
 */
function checkDayExists(dom: string, month: string): void {
  const months = month.split(',').every((v) => /^\d+$/.test(v) || MONTH_NAMES.includes(v.toUpperCase()))
    ? month.split(',').map((v) => (/^\d+$/.test(v) ? Number(v) : MONTH_NAMES.indexOf(v.toUpperCase()) + 1))
    : undefined;
  // `*`, `*/n` and `?` start on the 1st; a value, range or `n/s` on its first number; a range that wraps (`30-2`), on the 1st.
  const earliest = Math.min(
    ...dom.split(',').map((part) => {
      const m = /^(\d+)(?:-(\d+))?/.exec(part);
      return !m ? 1 : m[2] !== undefined && Number(m[2]) < Number(m[1]) ? 1 : Number(m[1]);
    }),
  );
  if (!months) return;
  if (!months.some((m) => earliest <= (MONTH_DAYS[m - 1] ?? 31))) {
    throw new CronError(`day of month "${dom}" does not occur in month "${month}": the schedule would never run`);
  }
}

/** A five-field Unix cron as a Scheduler cron, or a CronError saying why it cannot be one. */
function fromUnix(fields: readonly string[]): string {
  const [min, hour, dom, month, dow] = fields as [string, string, string, string, string];
  checkPlain(min, 'minute', 0, 59);
  checkPlain(hour, 'hour', 0, 23);
  checkPlain(month, 'month', 1, 12, MONTH_NAMES);
  if (restricted(dom) && !restricted(dow)) checkDayExists(dom, month);
  if (restricted(dom) && restricted(dow)) {
    throw new CronError(
      `"${dom}" (day of month) and "${dow}" (day of week): Unix cron runs on a day matching either one, which Scheduler cannot express (one of its day fields must be "?"); use two schedule sources or one field`,
    );
  }
  const days = restricted(dow) ? `? ${startStep(month, 1)} ${convertDayOfWeek(dow)}` : `${restricted(dom) ? convertDayOfMonth(dom) : '*'} ${startStep(month, 1)} ?`;
  return `cron(${startStep(min, 0)} ${startStep(hour, 0)} ${days} *)`;
}

/** A six-field Scheduler cron, checked against the rules Scheduler enforces at deploy. */
function checkScheduler(fields: readonly string[]): void {
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  checkPlain(min, 'minute', 0, 59);
  checkPlain(hour, 'hour', 0, 23);
  checkPlain(month, 'month', 1, 12, MONTH_NAMES);
  checkPlain(year, 'year', 1970, 2199);
  if ((dom === '?') === (dow === '?')) throw new CronError(`exactly one of day of month ("${dom}") and day of week ("${dow}") must be "?"`);
  if (dom !== '?' && !(dom === 'L' || /^([1-9]|[12]\d|3[01])W$/.test(dom))) {
    checkPlain(dom, 'day of month', 1, 31);
    checkDayExists(dom, month);
  }
  if (dow === '?') return;
  if (dow.includes('/')) throw new CronError(`day of week "${dow}": Scheduler has no "/" there; list the days ("1,3,5,7")`);
  if (/^([1-7]|[A-Z]{3})#[1-5]$/i.test(dow) || /^([1-7]|[A-Z]{3})?L$/i.test(dow)) return;
  if (/[#L]/i.test(dow.replace(/[A-Z]{3}/gi, '0'))) throw new CronError(`day of week "${dow}": "#" and "L" take one day each ("3#2", "6L")`);
  checkPlain(dow, 'day of week', 1, 7, DAY_NAMES);
}

/**
 * The Scheduler expression of a source's `cron`: `cron(...)` or its six fields as they are (checked), or a
 * five-field Unix cron converted. Throws a CronError naming what cannot be converted.
 */
export function schedulerCron(cron: string): string {
  const inner = cron.trim().replace(/^cron\((.*)\)$/s, '$1').trim();
  const fields = inner.split(/\s+/);
  if (fields.length === 6) {
    checkScheduler(fields);
    return `cron(${fields.join(' ')})`;
  }
  if (fields.length !== 5) throw new CronError(`must have 5 (Unix) or 6 (EventBridge Scheduler) fields, not ${fields.length}`);
  return fromUnix(fields);
}

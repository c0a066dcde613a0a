import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load';
import { schedulerCron } from '../../../functions/config/cron';

describe('Unix cron to EventBridge Scheduler cron', () => {
  it.each([
    ['every day at 02:15', '15 2 * * *', 'cron(15 2 * * ? *)'],
    ['the first of the month (day of week becomes "?")', '0 8 1 * *', 'cron(0 8 1 * ? *)'],
    ['Monday to Friday (day of month becomes "?"; 1-5 are MON-FRI, Scheduler 2-6)', '0 18 * * 1-5', 'cron(0 18 ? * 2,3,4,5,6 *)'],
    ['Sunday as 0 and as 7', '0 3 * * 0,7', 'cron(0 3 ? * 1 *)'],
    ['a list of days', '0 3 * * 0,6', 'cron(0 3 ? * 1,7 *)'],
    ['day names', '0 3 * * MON,wed', 'cron(0 3 ? * 2,4 *)'],
    ['a range of names', '0 3 * * MON-FRI', 'cron(0 3 ? * 2,3,4,5,6 *)'],
    ['a range wrapping past Saturday (FRI-SUN)', '0 3 * * 5-0', 'cron(0 3 ? * 1,6,7 *)'],
    ['a range ending on 7 (Sunday)', '0 3 * * 6-7', 'cron(0 3 ? * 1,7 *)'],
    ['a step over the week (Scheduler has no "/" there: listed)', '0 9 * * */2', 'cron(0 9 ? * 1,3,5,7 *)'],
    ['a step over a range', '0 9 * * 1-5/2', 'cron(0 9 ? * 2,4,6 *)'],
    ['a start with a step', '0 9 * * 2/3', 'cron(0 9 ? * 3,6 *)'],
    ['the second Monday ("#" keeps its count)', '0 9 * * 1#2', 'cron(0 9 ? * 2#2 *)'],
    ['the fifth Saturday', '0 9 * * SAT#5', 'cron(0 9 ? * 7#5 *)'],
    ['the last Friday', '0 9 * * 5L', 'cron(0 9 ? * 6L *)'],
    ['the last day of the month', '0 0 L * *', 'cron(0 0 L * ? *)'],
    ['the weekday nearest the 15th', '0 0 15W * *', 'cron(0 0 15W * ? *)'],
    ['steps in minutes, hours and days of month', '*/15 */2 */10 * *', 'cron(0/15 0/2 1/10 * ? *)'],
    ['lists and ranges in minutes, hours and months', '0,30 8-17 * JAN-MAR *', 'cron(0,30 8-17 * JAN-MAR ? *)'],
  ])('%s: %s', (_what, unix, expected) => {
    expect(schedulerCron(unix)).toBe(expected);
  });

  it('keeps a Scheduler cron as it is, with or without cron(...)', () => {
    expect(schedulerCron('cron(0 12 * * ? *)')).toBe('cron(0 12 * * ? *)');
    expect(schedulerCron('0 18 ? * MON-FRI *')).toBe('cron(0 18 ? * MON-FRI *)');
    expect(schedulerCron('cron(0 9 ? * 3#2 *)')).toBe('cron(0 9 ? * 3#2 *)');
    expect(schedulerCron('cron(0 0 L * ? *)')).toBe('cron(0 0 L * ? *)');
  });

  it('takes a day of month that some of its months have: February 29th, the 31st of months with one, or a range', () => {
    expect(schedulerCron('0 0 29 2 *')).toBe('cron(0 0 29 2 ? *)');
    expect(schedulerCron('0 0 31 1,4 *')).toBe('cron(0 0 31 1,4 ? *)');
    expect(schedulerCron('0 0 28-31 2 *')).toBe('cron(0 0 28-31 2 ? *)');
    expect(schedulerCron('cron(0 0 30 FEB,MAR ? *)')).toBe('cron(0 0 30 FEB,MAR ? *)');
    expect(schedulerCron('cron(0 0 30-2 FEB ? *)')).toBe('cron(0 0 30-2 FEB ? *)');
  });

  it.each([
    ['both day fields set (Unix runs on either; Scheduler needs one "?")', '0 0 1 * 1', /day of month.*day of week.*either/],
    ['"#" in a list', '0 9 * * 1#2,3#1', /"#" and "L" take one day each/],
    ['a day of week past 7', '0 9 * * 8', /must be 0-7/],
    ['a minute past 59', '60 * * * *', /minute value "60" must be 0-59/],
    ['a zero step', '*/0 * * * *', /step "\/0"/],
    ['a wrong field count', '* * * *', /5 \(Unix\) or 6/],
    ['a Scheduler cron with both day fields', 'cron(0 0 1 * MON *)', /exactly one of day of month/],
    ['a Scheduler cron with neither', 'cron(0 0 ? * ? *)', /exactly one of day of month/],
    ['a Scheduler cron with a step in day of week', 'cron(0 0 ? * */2 *)', /no "\/" there/],
    ['a Scheduler cron with "#" in a list', 'cron(0 0 ? * 3#1,6#3 *)', /one day each/],
    ['February 30th (it would never run)', '0 0 30 2 *', /day of month "30" does not occur in month "2": the schedule would never run/],
    ['the 31st of April and June', '0 0 31 4,6 *', /does not occur/],
    ['a Scheduler cron on November 31st', 'cron(0 0 31 NOV ? *)', /day of month "31" does not occur in month "NOV"/],
    ['a range of days February lacks', '0 0 30-31 2 *', /day of month "30-31" does not occur in month "2"/],
    ['a step from a day February lacks', 'cron(0 0 30/1 2 ? *)', /does not occur/],
  ])('refuses %s', (_what, cron, message) => {
    expect(() => schedulerCron(cron)).toThrow(message);
  });

  it('is refused at validation with the flow and the JSON path', () => {
    const flow = { id: 'pull', key: ['id'], targets: [{ id: 't', type: 'dynamodb' }], sources: [{ id: 'api', type: 'schedule', cron: '0 0 1 * 1', http: { url: 'https://api.example.com/items' } }] };
    expect(() => parseConfig({ flows: [flow] })).toThrow(/flow "pull" at \$\.flows\[0\]\.sources\[0\]\.cron: cannot be an EventBridge Scheduler cron: "1" \(day of month\) and "1" \(day of week\)/);
    expect(() => parseConfig({ flows: [{ ...flow, sources: [{ ...flow.sources[0], cron: '0 9 * * 1#2' }] }] })).not.toThrow();
  });
});

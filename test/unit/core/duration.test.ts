import { describe, expect, it } from 'vitest';
import { durationSchema } from '../../../functions/config/config-primitives';
import { parseDurationMs } from '../../../functions/core/duration';

describe('parseDurationMs', () => {
  it('reads every unit the config schema accepts', () => {
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('2 sec')).toBe(2_000);
    expect(parseDurationMs('5 minutes')).toBe(300_000);
    expect(parseDurationMs('1m')).toBe(60_000);
    expect(parseDurationMs('3 min')).toBe(180_000);
    expect(parseDurationMs('1 hour')).toBe(3_600_000);
    expect(parseDurationMs('2 h')).toBe(7_200_000);
    expect(parseDurationMs('1 day')).toBe(86_400_000);
    expect(parseDurationMs(' 7 days ')).toBe(7 * 86_400_000);
  });

  it('refuses unit words the schema refuses instead of guessing from their first letters', () => {
    for (const text of ['5 hippos', '3 months', '2 ms', '1 week', '10 secs', '5', 'minutes', '-1 minute', '1.5 hours', '5 Minutes']) {
      expect(() => parseDurationMs(text), text).toThrow(/invalid duration/);
      expect(durationSchema.safeParse(text).success, text).toBe(false);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { lagText } from '../../../lib/cli/admin-commands';

describe('status: delivery lag as a person reads it', () => {
  it.each([
    [850, '850 ms'],
    [4_250, '4.3 s'],
    [59_960, '1m 0s'],
    [61_000, '1m 1s'],
    [3 * 3_600_000 + 25 * 60_000, '3h 25m'],
    [601_697_372, '6d 23h'],
  ])('%i ms is %s', (ms, text) => {
    expect(lagText(ms)).toBe(text);
  });
});

import { describe, expect, it } from 'vitest';
import { fuzzWebhook } from '../../support/webhook-fuzz';

describe('webhook capture under fuzzed bodies, headers and paths', () => {
  it('answers every request with a status below 500 and never hangs', async () => {
    // Act: a fixed seed, so a failure reproduces; `npm run fuzz` runs a larger, random one.
    const report = await fuzzWebhook(2_500, 20261203);

    // Assess
    expect(report.examples).toEqual([]);
    expect(report.fiveXx).toBe(0);
    expect(report.hangs).toBe(0);
    // The fuzz reaches every answer a sender can get, accepted ones included.
    for (const status of ['202', '400', '401', '404']) expect(report.byStatus[status] ?? 0, `requests answered ${status}`).toBeGreaterThan(0);
  }, 120_000);
});

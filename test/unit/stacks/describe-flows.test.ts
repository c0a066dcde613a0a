import { describe, expect, it } from 'vitest';
import { describeFlows } from '../../../lib/stacks/sync-stack';

describe('describeFlows', () => {
  it('names every flow while the text fits', () => {
    expect(describeFlows('syncline webhooks of', ['orders', 'refunds'])).toBe('syncline webhooks of orders, refunds');
  });

  it('keeps within the 1,024 characters a stack or HTTP API description takes, saying how many flows it leaves out', () => {
    // Prepare: 25 flows with 40-character ids make 1,068 characters named in full.
    const ids = Array.from({ length: 25 }, (_, i) => `flow-${String(i).padStart(2, '0')}-${'x'.repeat(32)}`);

    // Act
    const text = describeFlows('syncline webhooks of', ids);

    // Assess
    expect(text.length).toBeLessThanOrEqual(1024);
    const shown = text.slice('syncline webhooks of '.length).split(', ');
    expect(shown.slice(0, -1)).toEqual(ids.slice(0, shown.length - 1));
    expect(shown.at(-1)).toBe(`${ids.length - (shown.length - 1)} more`);
  });
});

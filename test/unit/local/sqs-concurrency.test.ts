import { describe, expect, it } from 'vitest';
import type { FunctionPlan } from '../../../functions/plan/plan';
import { sqsConcurrency } from '../../../lib/local/runtime-support';
import { DEFAULT_SQS_CONCURRENCY } from '../../../lib/local/sqs-poller';

const fn = (handler: FunctionPlan['handler'], maxConcurrency?: number) => ({ handler, ...(maxConcurrency !== undefined ? { maxConcurrency } : {}) }) as FunctionPlan;

describe('local SQS mapping concurrency', () => {
  it('runs Lambda\'s five batches at once for steps whose writes are conditional or stateless', () => {
    // Prepare
    const handlers = ['transform', 'resolve', 'deliver-dynamodb', 'sqs-capture'] as const;

    // Act
    const limits = handlers.map((h) => sqsConcurrency(fn(h)));

    // Assess
    expect(DEFAULT_SQS_CONCURRENCY).toBe(5);
    expect(limits).toEqual([5, 5, 5, 5]);
  });

  it('keeps the plan\'s MaximumConcurrency as a cap', () => {
    // Act
    const capped = sqsConcurrency(fn('resolve', 2));
    const above = sqsConcurrency(fn('resolve', 10));

    // Assess
    expect(capped).toBe(2);
    expect(above).toBe(5);
  });

  it('takes one batch at a time for targets written without a version condition', () => {
    // Act
    const limits = (['deliver-s3', 'deliver-eventbridge', 'deliver-http', 'deliver-sqs'] as const).map((h) => sqsConcurrency(fn(h, 4)));

    // Assess
    expect(limits).toEqual([1, 1, 1, 1]);
  });
});

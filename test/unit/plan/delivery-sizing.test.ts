import { describe, expect, it } from 'vitest';
import { deliverySizing, plan } from '../../../functions/plan/plan';
import { parseConfig } from '../../../lib/config/load';

const http = (rateLimitPerSecond?: number) =>
  ({ id: 'api', type: 'http', url: 'https://api.example.com/{key}', method: 'PUT', authType: 'bearer', timeoutMs: 10_000, ...(rateLimitPerSecond ? { rateLimitPerSecond } : {}) }) as const;

describe('deliverySizing of a rate-limited HTTP target', () => {
  it.each([
    // rate, mapping concurrency, per invocation, batch
    [1, 2, 0.5, 5],
    [5, 2, 2.5, 25],
    [25, 3, 25 / 3, 50],
    [100, 10, 10, 50],
    [1000, 10, 100, 50],
  ])('%d/s: at most %d invocations at once, %d/s each, batches of %d', (rate, concurrency, each, batch) => {
    const sizing = deliverySizing(http(rate));
    expect(sizing.maxConcurrency).toBe(concurrency);
    expect(sizing.rateLimitPerInvocation).toBeCloseTo(each);
    expect(sizing.batchSize).toBe(batch);
    // The invocations together never exceed the target's rate.
    expect(sizing.maxConcurrency! * sizing.rateLimitPerInvocation!).toBeCloseTo(rate);
  });

  it('leaves an unlimited target without a concurrency cap', () => {
    expect(deliverySizing(http()).maxConcurrency).toBeUndefined();
  });
});

describe('the queues a delivery function sends to', () => {
  it('is its own queue for every target without conditional writes, rate-limited ones too: its untried and held keys go back there', () => {
    // Prepare
    const config = parseConfig({
      flows: [
        {
          id: 'tickets',
          key: ['id'],
          sources: [{ id: 'app', type: 'webhook' }],
          targets: [
            { id: 'replica', type: 'dynamodb' },
            { id: 'helpdesk', type: 'http', url: 'https://api.example.com/tickets/{key}', rateLimitPerSecond: 1 },
            { id: 'archive', type: 's3' },
          ],
        },
      ],
    });

    // Act
    const sends = Object.fromEntries(plan(config).flows[0]!.functions.filter((f) => f.step === 'deliver').map((f) => [f.id, f.sendsTo]));

    // Assess: the rate-limited target's queue takes no packs, yet its function sends back to it.
    expect(sends['deliver-helpdesk']).toEqual(['deliver-helpdesk']);
    expect(sends['deliver-archive']).toEqual(['deliver-archive']);
  });
});

import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it, vi } from 'vitest';
import type { Context } from 'aws-lambda';
import { powertoolsMetricsPort, publishPartialBatchFailure } from '../../../functions/adapters/powertools-telemetry';
import { flowSchema } from '../../../functions/config/schema';
import { instrumented, observability } from '../../../functions/entry/env';

describe('powertools metrics port', () => {
  it('publishes a gauge even at 0 (a count of 0 is left out), as Count with the Flow dimension', () => {
    // Prepare
    const metrics = new Metrics({ namespace: 'Syncline', serviceName: 'syncline-people', defaultDimensions: { Flow: 'people' } });
    const port = powertoolsMetricsPort(metrics);

    // Act
    port.count('Conflicts', 0);
    port.gauge!('OpenConflicts', 0);
    const emf = metrics.serializeMetrics() as unknown as Record<string, unknown> & { _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } };

    // Assess
    const [directive] = emf._aws.CloudWatchMetrics;
    expect(directive!.Metrics).toEqual([{ Name: 'OpenConflicts', Unit: 'Count' }]);
    expect(directive!.Dimensions[0]).toEqual(expect.arrayContaining(['Flow', 'service']));
    expect(emf).toMatchObject({ OpenConflicts: 0, Flow: 'people' });
  });
});

describe('partial batch failures', () => {
  /** The EMF lines written to stdout while `act` runs. */
  function emfOf(act: () => void): Record<string, unknown>[] {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    try {
      act();
    } finally {
      spy.mockRestore();
    }
    return lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  const metrics = () => new Metrics({ namespace: 'Syncline', serviceName: 'syncline-people', defaultDimensions: { Flow: 'people' } });
  const records = { Records: [{ messageId: 'm1' }, { messageId: 'm2' }] };

  it('publishes 1 for a batch that failed some messages and 0 for one that failed none, by function name', () => {
    // Act
    const failed = emfOf(() => publishPartialBatchFailure(metrics(), 'people-transform', records, { batchItemFailures: [{ itemIdentifier: 'm2' }] }));
    const clean = emfOf(() => publishPartialBatchFailure(metrics(), 'people-transform', records, { batchItemFailures: [] }));

    // Assess
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ PartialBatchFailures: 1, Flow: 'people', service: 'syncline-people', FunctionName: 'people-transform' });
    const directive = (failed[0]!._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] }).CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe('Syncline');
    expect([...directive.Dimensions[0]!].sort()).toEqual(['Flow', 'FunctionName', 'service']);
    expect(clean).toEqual([expect.objectContaining({ PartialBatchFailures: 0, FunctionName: 'people-transform' })]);
  });

  it('publishes nothing for an invocation that is not a batch (HTTP, schedule, direct call)', () => {
    expect(emfOf(() => publishPartialBatchFailure(metrics(), 'f', { body: '{}' }, { statusCode: 202 }))).toEqual([]);
    expect(emfOf(() => publishPartialBatchFailure(metrics(), 'f', {}, undefined))).toEqual([]);
    expect(emfOf(() => publishPartialBatchFailure(metrics(), 'f', records, undefined))).toEqual([]);
  });
});

describe('instrumented Lambda handlers', () => {
  it('publish whether a batch invocation failed some messages, beside the flow metrics', async () => {
    // Prepare: a transform function's handler answering one of two messages as failed.
    const flow = flowSchema.parse({ id: 'people', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], targets: [{ id: 'replica', type: 'dynamodb' }] });
    const handler = instrumented(async () => ({ batchItemFailures: [{ itemIdentifier: 'm2' }] }), observability(flow, 'transform'));
    const context = { functionName: 'people-transform', awsRequestId: 'r1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:people-transform', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));

    // Act
    try {
      await handler({ Records: [{ messageId: 'm1' }, { messageId: 'm2' }] }, context);
    } finally {
      spy.mockRestore();
    }

    // Assess
    const emf = lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('PartialBatchFailures')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf).toEqual([expect.objectContaining({ PartialBatchFailures: 1, FunctionName: 'people-transform', Flow: 'people' })]);
  });

  it('write no warning after an invocation that counted nothing, which is no fault', async () => {
    // Prepare: an admin-like handler that publishes no metric.
    const flow = flowSchema.parse({ id: 'people', key: ['id'], sources: [{ id: 'crm', type: 'webhook' }], targets: [{ id: 'replica', type: 'dynamodb' }] });
    const handler = instrumented(async () => ({ statusCode: 200 }), observability(flow, 'admin'));
    const context = { functionName: 'people-admin', awsRequestId: 'r2', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:people-admin', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    const written: string[] = [];
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true)),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true)),
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(' ')))),
    ];

    // Act
    try {
      await handler({ body: '{}' }, context);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }

    // Assess
    expect(written.filter((w) => w.includes('No application metrics'))).toEqual([]);
  });
});

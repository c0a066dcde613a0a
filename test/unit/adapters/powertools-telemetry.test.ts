import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { powertoolsMetricsPort } from '../../../functions/adapters/powertools-telemetry';

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

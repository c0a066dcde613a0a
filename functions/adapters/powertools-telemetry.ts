import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { LogPort, MetricsPort } from '../ports';
import { PARTIAL_BATCH_METRIC } from '../wiring/contract';

/** LogPort on a Powertools Logger (JSON logs, correlation id). */
export function powertoolsLogPort(logger: Logger): LogPort {
  return {
    debug: (m, a) => (a ? logger.debug(m, a) : logger.debug(m)),
    info: (m, a) => (a ? logger.info(m, a) : logger.info(m)),
    warn: (m, a) => (a ? logger.warn(m, a) : logger.warn(m)),
    error: (m, a) => (a ? logger.error(m, a) : logger.error(m)),
    setCorrelationId: (id) => logger.setCorrelationId(id),
  };
}

/** MetricsPort on Powertools Metrics (EMF, flushed by the `logMetrics` middleware). */
export function powertoolsMetricsPort(metrics: Metrics): MetricsPort {
  return {
    count: (name, value) => (value > 0 ? metrics.addMetric(name, MetricUnit.Count, value) : undefined),
    gauge: (name, value) => metrics.addMetric(name, MetricUnit.Count, Math.max(0, value)),
    lagMs: (ms) => metrics.addMetric('LagMs', MetricUnit.Milliseconds, Math.max(0, ms)),
  };
}

/**
 * Publishes {@link PARTIAL_BATCH_METRIC} for a batch invocation: an event with `Records` answered with
 * `batchItemFailures`. Other invocations (HTTP, schedules, direct calls) publish nothing. Its own EMF line, since it
 * carries a dimension (`FunctionName`) that the flow's other metrics do not.
 */
export function publishPartialBatchFailure(metrics: Metrics, functionName: string, event: unknown, response: unknown): void {
  const records = (event as { Records?: unknown } | null | undefined)?.Records;
  const failures = (response as { batchItemFailures?: unknown } | null | undefined)?.batchItemFailures;
  if (!Array.isArray(records) || !Array.isArray(failures)) return;
  metrics
    .singleMetric()
    .addDimension('FunctionName', functionName)
    .addMetric(PARTIAL_BATCH_METRIC, MetricUnit.Count, failures.length > 0 ? 1 : 0);
}

import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { LogPort, MetricsPort } from '../ports';

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

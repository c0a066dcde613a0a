import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { FlowConfig } from '../config/schema';
import type { StepName } from '../core/envelope';
import { messageOf } from '../core/errors';
import { flowServiceName, METRICS_NAMESPACE } from '../wiring/contract';
import { publishPartialBatchFailure } from '../adapters/powertools-telemetry';

/** Reads a required environment variable at module load; a missing one fails the cold start naming it. */
export function requireEnv(name: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new Error(`missing required environment variable ${name}`);
  return value;
}

/** A required variable holding a JSON object of strings, e.g. DELIVER_QUEUE_URLS. */
export function requireJsonMapEnv(name: string, env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const text = requireEnv(name, env);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`environment variable ${name} is not valid JSON: ${messageOf(err)}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new Error(`environment variable ${name} must be a JSON object of strings`);
  }
  return value as Record<string, string>;
}

/**
 * Where Powertools Metrics writes its own notices: the console, less the warning it prints after every invocation
 * that counted nothing (a duplicate webhook, an unchanged pull, an admin call), which is no fault.
 */
const metricsNotices = {
  debug: (...args: unknown[]) => console.debug(...args),
  info: (...args: unknown[]) => console.info(...args),
  error: (...args: unknown[]) => console.error(...args),
  warn: (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('No application metrics to publish')) return;
    console.warn(...args);
  },
};

/** Powertools Logger and Metrics of one flow's function: namespace `Syncline`, dimension `Flow`. */
export function observability(flow: FlowConfig, step: StepName | 'review' | 'admin'): { logger: Logger; metrics: Metrics } {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? flowServiceName(flow.id);
  const logger = new Logger({ serviceName, persistentKeys: { flow: flow.id, step } });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName, defaultDimensions: { Flow: flow.id }, logger: metricsNotices });
  return { logger, metrics };
}

/**
 * Wraps a handler with middy: Powertools context in logs, metrics flushed as EMF after each invocation, and for a
 * batch invocation whether it failed some messages.
 */
export function instrumented<E, R>(handler: (event: E, context: Context) => Promise<R>, { logger, metrics }: { logger: Logger; metrics: Metrics }) {
  return middy(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use({ after: ({ event, response, context }) => publishPartialBatchFailure(metrics, context.functionName, event, response) });
}

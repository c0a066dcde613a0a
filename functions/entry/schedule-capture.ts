import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { createPullReader } from '../adapters/pull-readers';
import { pullKeysSealed } from '../core/pull/pull-keys';
import type { ScheduleSource } from '../core/pull/records';
import { scheduleCapture } from '../wiring/schedule-capture';
import { bakedFlow } from './baked';
import { requireEnv } from './env';
import { onDemandContinuation, s3Client } from './on-demand';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const sourceId = requireEnv('SOURCE_ID');
// Set by the Lambda runtime: the pull continues itself asynchronously.
const functionName = requireEnv('AWS_LAMBDA_FUNCTION_NAME');
const source = flow.sources.find((s): s is ScheduleSource => s.id === sourceId && s.type === 'schedule');
if (!source) throw new Error(`SOURCE_ID "${sourceId}" is not a schedule source of flow "${flow.id}"`);
// A flow that masks the pull's key: its state holds the key as an HMAC, with the hash key (core/pull/pull-keys.ts).
const sealed = pullKeysSealed(flow, source);
const hashKeySecretArn = sealed ? requireEnv('HASH_KEY_SECRET_ARN') : undefined;
const { ctx, logger, metrics } = lambdaStepContext(flow, 'capture', { readsSecrets: Boolean(source.http?.auth) || sealed });

/** Module-scope clients of this function only: S3 for a source that reads S3, loaded at cold start. */
const s3 = source.s3 ? await s3Client() : undefined;
const reader = createPullReader(source, { secrets: ctx.secrets, s3Client: s3, log: (m, a) => logger.info(m, a) });

const capture = scheduleCapture(ctx, sourceId, reader, {
  continueSoon: onDemandContinuation(functionName),
  ...(hashKeySecretArn ? { hashKey: () => ctx.secrets.get(hashKeySecretArn) } : {}),
});

export const handler = middy(capture)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));

import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { lambdaContinuation } from '../adapters/lambda-continuation';
import { createPullReader } from '../adapters/pull-readers';
import type { ScheduleSource } from '../core/pull/records';
import { scheduleCapture } from '../wiring/steps';
import { bakedFlow } from './baked';
import { requireEnv } from './env';
import { lambdaStepContext } from './step-context';

const flow = bakedFlow();
const sourceId = requireEnv('SOURCE_ID');
// Set by the Lambda runtime: the pull continues itself asynchronously.
const functionName = requireEnv('AWS_LAMBDA_FUNCTION_NAME');
const source = flow.sources.find((s): s is ScheduleSource => s.id === sourceId && s.type === 'schedule');
if (!source) throw new Error(`SOURCE_ID "${sourceId}" is not a schedule source of flow "${flow.id}"`);
const { ctx, logger, metrics } = lambdaStepContext(flow, 'capture');

/** Module-scope clients of this function only. */
const s3Client = source.s3 ? new S3Client({}) : undefined;
const lambdaClient = new LambdaClient({});
const reader = createPullReader(source, { secrets: ctx.secrets, s3Client, log: (m, a) => logger.info(m, a) });

export const handler = middy(scheduleCapture(ctx, sourceId, reader, lambdaContinuation(lambdaClient, functionName)))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));

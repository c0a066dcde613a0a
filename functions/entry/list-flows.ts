import { powertoolsLogPort } from '../adapters/powertools-telemetry';
import { planFlow } from '../plan/plan';
import { createFlowListHandler } from '../handlers/admin-http-handler';
import { flowSummary } from '../handlers/flow-summary';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Logger } from '@aws-lambda-powertools/logger';
import { bakedFlows } from './baked';
import { requireEnv } from './env';

const apiEndpoint = requireEnv('API_ENDPOINT');
const summaries = bakedFlows().map((flow) => flowSummary(planFlow(flow), apiEndpoint));
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'syncline-admin' });

export const handler = middy(createFlowListHandler({ flows: () => summaries, logger: powertoolsLogPort(logger) })).use(injectLambdaContext(logger, { resetKeys: true }));

import { createSqsCaptureHandler } from '../handlers/sqs-capture-handler';
import { captureLambda } from './capture-common';

export const handler = captureLambda(createSqsCaptureHandler);

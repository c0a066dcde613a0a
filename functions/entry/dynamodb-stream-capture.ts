import { createDynamoDbStreamCaptureHandler } from '../handlers/dynamodb-stream-capture-handler';
import { captureLambda } from './capture-common';

export const handler = captureLambda(createDynamoDbStreamCaptureHandler);

import { unmarshallImage } from '../adapters/dynamodb-images';
import type { CaptureUseCaseDeps } from '../handlers/capture-deps';
import { createDynamoDbStreamCaptureHandler, type DynamoDbStreamCaptureHandler } from '../handlers/dynamodb-stream-capture-handler';

/** A `dynamodb-stream` source's capture, its images unmarshalled with the SDK's util-dynamodb (the same in Lambda and locally). */
export function streamCapture(deps: CaptureUseCaseDeps): DynamoDbStreamCaptureHandler {
  return createDynamoDbStreamCaptureHandler({ ...deps, unmarshall: unmarshallImage });
}

import { dynamoDbClient } from '../adapters/clients';
import { DynamoDbTableScanner } from '../adapters/dynamodb-table-scanner';
import { createBackfillHandler, dispatchStreamOrBackfill } from '../handlers/backfill-handler';
import { createDynamoDbStreamCaptureHandler } from '../handlers/dynamodb-stream-capture-handler';
import { captureLambda } from './capture-common';
import { requireEnv } from './env';

/** Stream batches from the event source mapping; backfill chunks from a direct invocation (`syncline backfill --stack`). */
export const handler = captureLambda((deps) =>
  dispatchStreamOrBackfill(
    createDynamoDbStreamCaptureHandler(deps),
    createBackfillHandler({ ...deps, scanner: new DynamoDbTableScanner({ client: dynamoDbClient, tableName: requireEnv('SOURCE_TABLE') }) }),
  ),
);

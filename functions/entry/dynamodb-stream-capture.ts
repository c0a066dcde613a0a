import { dynamoDbClient } from '../adapters/clients';
import { DynamoDbTableScanner } from '../adapters/dynamodb-table-scanner';
import { createBackfillHandler, dispatchStreamOrBackfill } from '../handlers/backfill-handler';
import { streamCapture } from '../wiring/stream-capture';
import { captureLambda } from './capture-common';
import { requireEnv } from './env';

/** Stream batches from the event source mapping; backfill chunks from a direct invocation (`syncline backfill --stack`). */
export const handler = captureLambda((deps) =>
  dispatchStreamOrBackfill(
    streamCapture(deps),
    createBackfillHandler({ ...deps, scanner: new DynamoDbTableScanner({ client: dynamoDbClient, tableName: requireEnv('SOURCE_TABLE') }) }),
  ),
);

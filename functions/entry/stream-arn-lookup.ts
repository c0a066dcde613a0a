import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describeTableStream } from '../adapters/dynamodb-table-stream';
import { createStreamArnLookupHandler } from '../handlers/stream-arn-lookup';
import { requireEnv } from './env';

const client = new DynamoDBClient({});

export const handler = createStreamArnLookupHandler({ region: requireEnv('AWS_REGION'), describe: describeTableStream(client) });

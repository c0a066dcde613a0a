import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Marshalling shared by every DynamoDB adapter: undefined attributes are dropped, not rejected; a record with a
 * field named `constructor` is still a map (the marshaller tells maps from class instances by that property).
 */
export const DOCUMENT_TRANSLATE = {
  marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false, convertClassInstanceToMap: true },
  unmarshallOptions: { wrapNumbers: false },
} as const;

export function documentClientFor(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, DOCUMENT_TRANSLATE);
}

/**
 * Module-scope clients: created once per container and reused by warm invocations. Clients that only some
 * invocations need (S3 for claim checks, Secrets Manager) are loaded on demand (functions/entry/on-demand).
 */
export const dynamoDbClient = new DynamoDBClient({});
export const documentClient = documentClientFor(dynamoDbClient);
export const sqsClient = new SQSClient({});

/** The region of an ARN (`arn:<partition>:<service>:<region>:<account>:...`); undefined for a plain name. */
export function regionOfArn(nameOrArn: string): string | undefined {
  const m = /^arn:[^:]+:[^:]+:([a-z0-9-]+):/.exec(nameOrArn);
  return m?.[1];
}

const regionalDocumentClients = new Map<string, DynamoDBDocumentClient>();
const regionalSqsClients = new Map<string, SQSClient>();

/**
 * The document client for a table by name or ARN: the module-scope one in the function's own region, else one per
 * region (a request to a table of another region must be signed for, and sent to, that region).
 */
export function documentClientForTable(nameOrArn: string, ownRegion = process.env.AWS_REGION): DynamoDBDocumentClient {
  const region = regionOfArn(nameOrArn);
  if (!region || region === ownRegion) return documentClient;
  let client = regionalDocumentClients.get(region);
  if (!client) regionalDocumentClients.set(region, (client = documentClientFor(new DynamoDBClient({ region }))));
  return client;
}

/** The SQS client for a queue by ARN, in the queue's region (see documentClientForTable). */
export function sqsClientForQueue(queueArn: string, ownRegion = process.env.AWS_REGION): SQSClient {
  const region = regionOfArn(queueArn);
  if (!region || region === ownRegion) return sqsClient;
  let client = regionalSqsClients.get(region);
  if (!client) regionalSqsClients.set(region, (client = new SQSClient({ region })));
  return client;
}

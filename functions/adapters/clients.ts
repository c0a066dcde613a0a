import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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

/** Module-scope clients: created once per container and reused by warm invocations. */
export const dynamoDbClient = new DynamoDBClient({});
export const documentClient = documentClientFor(dynamoDbClient);
export const sqsClient = new SQSClient({});
export const secretsManagerClient = new SecretsManagerClient({});
export const s3Client = new S3Client({});

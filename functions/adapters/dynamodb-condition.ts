import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/**
 * The item a conditional write failed against (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`). The error carries
 * it in DynamoDB's low-level form, as the document client does not convert errors; DynamoDB Local may leave it out,
 * and then it is read (strongly consistent).
 */
export async function conditionFailedItem(
  err: unknown,
  client: DynamoDBDocumentClient,
  tableName: string,
  key: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  const returned = (err as { Item?: Record<string, AttributeValue> }).Item;
  if (returned) return unmarshall(returned);
  return (await client.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }))).Item;
}

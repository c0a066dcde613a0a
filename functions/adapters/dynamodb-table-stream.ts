import { DescribeTableCommand, ResourceNotFoundException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableStreamInfo } from '../ports';

/** DescribeTable reduced to what the stream lookup needs; undefined when the table does not exist. */
export function describeTableStream(client: DynamoDBClient) {
  return async (tableName: string): Promise<TableStreamInfo | undefined> => {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      const spec = Table?.StreamSpecification;
      return { streamEnabled: spec?.StreamEnabled === true, streamArn: Table?.LatestStreamArn, viewType: spec?.StreamViewType };
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
  };
}

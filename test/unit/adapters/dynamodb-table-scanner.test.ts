import { DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { DynamoDbTableScanner } from '../../../functions/adapters/dynamodb-table-scanner';

describe('DynamoDbTableScanner', () => {
  it('reports an item that cannot be unmarshalled instead of failing the page', async () => {
    // DynamoDB stores only its own types, so DynamoDB Local cannot hold such an item; a reply with another type stands for a service change.
    const client = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const odd = { id: { S: 'odd' }, v: { X: '1' } } as unknown as Record<string, AttributeValue>;
    mockClient(client).on(ScanCommand).resolves({ Items: [odd, { id: { S: 'fine' } }] });
    const page = await new DynamoDbTableScanner({ client, tableName: 'people' }).scanPage({ segment: 0, totalSegments: 1 });
    expect(page.items.filter((i) => i.record).map((i) => i.record!.id)).toEqual(['fine']);
    expect(page.items.filter((i) => i.error).map((i) => i.error)).toEqual([expect.stringMatching(/^item cannot be unmarshalled: /)]);
  });
});

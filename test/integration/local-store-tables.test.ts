import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTable, OutdatedTableError, storeTableInput } from '../../lib/local/resources';
import { STORE_TABLES } from '../../lib/plan/plan';
import { integrationClients, uniqueSuffix } from '../support/local-servers';

describe('local store tables against DynamoDB Local', () => {
  const clients = integrationClients();
  afterAll(() => clients.destroy());

  it('adds the indexes of the plan that a table kept from an older version lacks, and keeps its items', async () => {
    // Prepare: the state table as it was before it had an index (a --persist folder from an older version), with an item.
    const plan = STORE_TABLES.find((t) => t.id === 'state')!;
    const name = `it-${uniqueSuffix()}-state`;
    await ensureTable(clients.dynamodb, storeTableInput({ ...plan, indexes: [] }, name));
    await clients.doc.send(new PutCommand({ TableName: name, Item: { pk: 'people#1', tscope: 'people#pg#public.customers' } }));

    // Act
    await ensureTable(clients.dynamodb, storeTableInput(plan, name), plan.ttlAttribute);

    // Assess: the index exists, keys only, and lists the item written before it.
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.GlobalSecondaryIndexes?.map((ix) => [ix.IndexName, ix.IndexStatus, ix.Projection?.ProjectionType])).toEqual([['byTruncateScope', 'ACTIVE', 'KEYS_ONLY']]);
    const listed = await clients.doc.send(
      new QueryCommand({ TableName: name, IndexName: 'byTruncateScope', KeyConditionExpression: 'tscope = :s', ExpressionAttributeValues: { ':s': 'people#pg#public.customers' } }),
    );
    expect(listed.Items).toEqual([{ pk: 'people#1', tscope: 'people#pg#public.customers' }]);
  });

  it('names the table, the index and the fix when an index cannot be added', () => {
    const err = new OutdatedTableError('it-state', ['byTruncateScope'], new Error('LimitExceededException'));
    expect(err.message).toMatch(/table it-state .*lacks index byTruncateScope, which could not be added \(LimitExceededException\): start with a new --persist folder, or delete that table/);
  });

  it('accepts a table that has every index of the plan, again and again', async () => {
    // Prepare
    const plan = STORE_TABLES.find((t) => t.id === 'conflicts')!;
    const name = `it-${uniqueSuffix()}-conflicts`;

    // Act
    await ensureTable(clients.dynamodb, storeTableInput(plan, name), plan.ttlAttribute);
    await ensureTable(clients.dynamodb, storeTableInput(plan, name), plan.ttlAttribute);

    // Assess
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.GlobalSecondaryIndexes?.map((ix) => [ix.IndexName, ix.IndexStatus, ix.KeySchema])).toEqual([
      ['openByFlow', 'ACTIVE', [{ AttributeName: 'openFlow', KeyType: 'HASH' }, { AttributeName: 'openedAt', KeyType: 'RANGE' }]],
    ]);
    expect(Table?.AttributeDefinitions).toEqual(expect.arrayContaining([{ AttributeName: 'openedAt', AttributeType: 'N' }, { AttributeName: 'openFlow', AttributeType: 'S' }]));
  });
});

import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTable, OutdatedTableError, storeTableInput } from '../../lib/local/resources';
import { STORE_TABLES } from '../../functions/plan/plan';
import { integrationClients, uniqueSuffix } from '../support/local-servers';

describe('local store tables against DynamoDB Local', () => {
  const clients = integrationClients();
  afterAll(() => clients.destroy());

  it('refuses a table kept from an older version without an index of the plan, naming the table, index and fix', async () => {
    // Prepare: the conflicts table as it was before it had an index (a --persist folder from an older version).
    const plan = STORE_TABLES.find((t) => t.id === 'conflicts')!;
    const name = `it-${uniqueSuffix()}-conflicts`;
    await ensureTable(clients.dynamodb, storeTableInput({ ...plan, indexes: [] }, name));

    // Act
    const upgrade = ensureTable(clients.dynamodb, storeTableInput(plan, name), plan.ttlAttribute);

    // Assess
    await expect(upgrade).rejects.toBeInstanceOf(OutdatedTableError);
    await expect(upgrade).rejects.toThrow(new RegExp(`table ${name} .*lacks index openByFlow: start with a new --persist folder, or delete that table`));
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

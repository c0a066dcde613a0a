import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

/** Every item a query matches, following LastEvaluatedKey across pages. */
export async function queryAll(client: DynamoDBDocumentClient, input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * Up to `limit` items of a query, following LastEvaluatedKey: a Query answers at most 1 MB, however large its Limit,
 * so one call may hold fewer items than asked although more follow. Answers where the last call stopped, if not at the end.
 */
export async function queryUpTo(
  client: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'Limit'>,
  limit: number,
  /** Calls at most (each reads up to 1 MB), so a page of large items stays within a function's memory. */
  maxCalls = Number.POSITIVE_INFINITY,
): Promise<{ items: Record<string, unknown>[]; lastKey?: Record<string, unknown> }> {
  const items: Record<string, unknown>[] = [];
  let start = input.ExclusiveStartKey;
  let calls = 0;
  do {
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: start, Limit: limit - items.length }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start && items.length < limit && ++calls < maxCalls);
  return { items, ...(start ? { lastKey: start } : {}) };
}

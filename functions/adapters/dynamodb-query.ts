import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

/** Every item a query matches, following LastEvaluatedKey across pages. */
export async function queryAll(client: DynamoDBDocumentClient, input: Omit<QueryCommandInput, 'ExclusiveStartKey' | 'Limit'>): Promise<Record<string, unknown>[]> {
  return (await queryUpTo(client, input, Number.POSITIVE_INFINITY)).items;
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
    const left = limit - items.length;
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: start, ...(Number.isFinite(left) ? { Limit: left } : {}) }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start && items.length < limit && ++calls < maxCalls);
  return { items, ...(start ? { lastKey: start } : {}) };
}

/**
 * How many items a query matches, counted page by page (Select COUNT), so none is held in memory; undefined when
 * `stop` answers true before the last page (each call still reads up to 1 MB of items).
 */
export async function queryCount(client: DynamoDBDocumentClient, input: Omit<QueryCommandInput, 'ExclusiveStartKey' | 'Limit' | 'Select'>, stop?: () => boolean): Promise<number | undefined> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    if (stop?.()) return undefined;
    const page = await client.send(new QueryCommand({ ...input, Select: 'COUNT', ExclusiveStartKey: start }));
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

/** A page of items read whole: sorted by `order`, those after `after`, at most `limit`; `more` when others follow. */
export function pageOfSorted<C, T extends C>(items: T[], order: (a: C, b: C) => number, after: C | undefined, limit: number): { items: T[]; more: boolean } {
  const rest = items.sort(order).filter((i) => after === undefined || order(i, after) > 0);
  return { items: rest.slice(0, limit), more: rest.length > limit };
}

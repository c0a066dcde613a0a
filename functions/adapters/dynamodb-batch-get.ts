import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { backoffMs, type ResolvedRetry } from './retry';
import { chunk } from '../core/chunk';

export interface BatchGetOptions {
  /** Keys per BatchGetItem call (at most 100; fewer for large items, as a call returns at most 16 MB). @default 100 */
  readonly size?: number;
  /** Attributes to read (names, substituted as expression attribute names); all when absent. */
  readonly attributes?: readonly string[];
}

/**
 * Reads items by key with strongly consistent BatchGetItem calls, retrying UnprocessedKeys with exponential backoff
 * and jitter (throttling of the call itself is the SDK client's to retry). Answers the items found, in no particular
 * order. Throws once `maxAttempts` is spent on unprocessed keys.
 */
export async function batchGetAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Record<string, unknown>[],
  retry: ResolvedRetry,
  options: BatchGetOptions = {},
): Promise<Record<string, unknown>[]> {
  const names = options.attributes?.map((a, i) => [`#a${i}`, a] as const);
  const projection = names ? { ProjectionExpression: names.map(([n]) => n).join(', '), ExpressionAttributeNames: Object.fromEntries(names) } : {};
  const out: Record<string, unknown>[] = [];
  for (const part of chunk(keys, options.size ?? 100)) {
    let pending: readonly Record<string, unknown>[] = part;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > retry.maxAttempts) throw new Error(`BatchGetItem on ${tableName}: ${pending.length} keys still unprocessed after ${retry.maxAttempts} attempts`);
      if (attempt > 1) await retry.sleep(backoffMs(retry, attempt - 1));
      const result = await client.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: [...pending], ConsistentRead: true, ...projection } } }));
      out.push(...((result.Responses?.[tableName] ?? []) as Record<string, unknown>[]));
      pending = (result.UnprocessedKeys?.[tableName]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return out;
}

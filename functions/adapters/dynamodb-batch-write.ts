import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { backoffMs, chunk, isRetryable, type ResolvedRetry } from './retry';

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } };

/**
 * Puts items with BatchWriteItem in chunks of 25, retrying UnprocessedItems and throttling with
 * exponential backoff and jitter; throws once `maxAttempts` is spent on a chunk.
 */
export async function batchPutAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
  retry: ResolvedRetry,
  keyOf: (item: Record<string, unknown>) => string,
): Promise<void> {
  // BatchWriteItem refuses two requests for one key in a batch; the last one wins as a put would.
  const unique = new Map<string, Record<string, unknown>>();
  for (const item of items) unique.set(keyOf(item), item);
  for (const part of chunk([...unique.values()], 25)) {
    let pending: WriteRequest[] = part.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > retry.maxAttempts) {
        throw new Error(`BatchWriteItem on ${tableName}: ${pending.length} items still unprocessed after ${retry.maxAttempts} attempts`);
      }
      if (attempt > 1) await retry.sleep(backoffMs(retry, attempt - 1));
      let result;
      try {
        result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
      } catch (err) {
        if (isRetryable(err) && attempt < retry.maxAttempts) continue;
        throw err;
      }
      pending = (result.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
    }
  }
}

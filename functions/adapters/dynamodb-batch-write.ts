import { BatchWriteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PartialWriteError } from '../ports';
import { backoffMs, isRefusedItem, safeErrorText, type ResolvedRetry } from './retry';
import { chunk } from '../core/chunk';

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } };

/**
 * Puts items with BatchWriteItem in chunks of 25, retrying UnprocessedItems with exponential backoff and jitter
 * (throttling of the call itself is the SDK client's to retry: one retry layer per call). A chunk that DynamoDB
 * refuses for what an item holds (ValidationException, or a value the marshaller cannot convert) is written item
 * by item, so one unstorable item never keeps the others out: they are written, and a PartialWriteError names
 * the positions of the refused ones. Throws once `maxAttempts` is spent on unprocessed items.
 */
export async function batchPutAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
  retry: ResolvedRetry,
  keyOf: (item: Record<string, unknown>) => string,
): Promise<void> {
  // BatchWriteItem refuses two requests for one key in a batch; the last one wins as a put would.
  const unique = new Map<string, { item: Record<string, unknown>; positions: number[] }>();
  items.forEach((item, i) => {
    const k = keyOf(item);
    unique.set(k, { item, positions: [...(unique.get(k)?.positions ?? []), i] });
  });
  const failed: number[] = [];
  const reasons: string[] = [];
  for (const part of chunk([...unique.values()], 25)) {
    try {
      await writeChunk(client, tableName, part.map((p) => p.item), retry);
    } catch (err) {
      if (!isRefusedItem(err)) throw err;
      // Find the refused items one by one; the others go in as they would have.
      for (const p of part) {
        try {
          await client.send(new PutCommand({ TableName: tableName, Item: p.item }));
        } catch (one) {
          if (!isRefusedItem(one)) throw one;
          failed.push(...p.positions);
          reasons.push(safeErrorText(one));
        }
      }
    }
  }
  if (failed.length > 0) throw new PartialWriteError(failed.sort((a, b) => a - b), reasons);
}

async function writeChunk(client: DynamoDBDocumentClient, tableName: string, items: readonly Record<string, unknown>[], retry: ResolvedRetry): Promise<void> {
  let pending: WriteRequest[] = items.map((Item) => ({ PutRequest: { Item } }));
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > retry.maxAttempts) {
      throw new Error(`BatchWriteItem on ${tableName}: ${pending.length} items still unprocessed after ${retry.maxAttempts} attempts`);
    }
    if (attempt > 1) await retry.sleep(backoffMs(retry, attempt - 1));
    const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
    pending = (result.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
  }
}

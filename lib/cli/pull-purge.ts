import { randomUUID } from 'node:crypto';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbPullStateStore, pullPk } from '../../functions/adapters/dynamodb-pull-state-store';
import { isSealedId } from '../../functions/core/pull/pull-keys';
import { AdminError } from './admin-client';

/** What a purge did: items deleted (a key as read) and sealed items left. */
export interface PurgeResult {
  readonly deleted: number;
  readonly kept: number;
}

/**
 * Deletes the per-key items of a source's pull that name a key as read, in a flow that masks its key. The pull's
 * functions drop such items only where a key list names them, and may not scan the shared table: an item an
 * earlier release orphaned is found here, with the caller's credentials, by one Scan of the state table.
 * Refused until the pull has run sealed, so a release that still reads raw keys never loses its state, and while a
 * pull runs.
 */
export async function purgeRawPullKeys(client: DynamoDBDocumentClient, tableName: string, flowId: string, sourceId: string): Promise<PurgeResult> {
  const store = new DynamoDbPullStateStore({ client, tableName });
  // The pull's own lease, held (and renewed each page) for the whole purge: no run can change the form meanwhile.
  const owner = `syncline-purge-${randomUUID()}`;
  const hold = () => store.acquireLease(flowId, sourceId, owner, Date.now() + LEASE_MS, Date.now());
  if (!(await hold())) throw new AdminError(`a pull of ${flowId}/${sourceId} is running: purge when it ends`);
  try {
    const run = await store.getRun(flowId, sourceId);
    if (!run?.keys?.startsWith('sealed:') || run.settling?.length) {
      throw new AdminError(`the pull of ${flowId}/${sourceId} has not run with sealed keys yet: run it once (syncline pull ${flowId} ${sourceId}) and purge after`);
    }
    return await purgeScan(client, store, tableName, flowId, sourceId, hold);
  } finally {
    await store.releaseLease(flowId, sourceId, owner);
  }
}

const LEASE_MS = 15 * 60_000;

async function purgeScan(
  client: DynamoDBDocumentClient,
  store: DynamoDbPullStateStore,
  tableName: string,
  flowId: string,
  sourceId: string,
  hold: () => Promise<boolean>,
): Promise<PurgeResult> {
  const prefix = pullPk.key(flowId, sourceId, '');
  let start: Record<string, unknown> | undefined;
  let deleted = 0;
  let kept = 0;
  do {
    if (!(await hold())) throw new AdminError(`the purge of ${flowId}/${sourceId} lost the pull's lease after deleting ${deleted} items: run it again`);
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: 'pk',
        FilterExpression: 'begins_with(pk, :prefix)',
        ExpressionAttributeValues: { ':prefix': prefix },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const keys = (page.Items ?? []).map((item) => String(item.pk).slice(prefix.length));
    const raw = keys.filter((k) => !isSealedId(k));
    if (raw.length > 0) await store.deleteKeys(flowId, sourceId, raw);
    deleted += raw.length;
    kept += keys.length - raw.length;
    start = page.LastEvaluatedKey;
  } while (start);
  return { deleted, kept };
}

import { join, resolve as resolvePath } from 'node:path';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CLAIM_KEY_PATTERN, claimOf } from '../../functions/core/claim-check';
import { dropSendLease } from '../../functions/adapters/dynamodb-state-store';
import { releasedClaim } from '../../functions/adapters/dynamodb-dedup-store';
import type { LocalClients } from './clients';
import { ObjectMirror } from './object-mirror';
import { QueueJournal } from './queue-journal';
import { LOCAL_PAYLOAD_BUCKET, type LocalResources } from './resources';
import type { TargetResources } from './target-resources';
import { SynclineError } from '../../functions/core/errors';
import { errorNameOf } from '../../functions/core/error-text';

/** What a restart on a `--persist` folder brought back into the in-memory SQS/S3 server. */
export interface RecoverySummary {
  /** Messages sent again, by queue name. */
  readonly messages: Readonly<Record<string, number>>;
  readonly objects: number;
  /** Send leases of deliveries the last run was making when it stopped, let go so their retries need not wait. */
  readonly leases: number;
  /** Webhook deliveries the last run was capturing when it stopped, let go so the sender's retry is taken at once. */
  readonly webhookClaims: number;
}

/**
 * `--persist` for the SQS/S3 server, which keeps everything in memory: a journal of the flow queues and a copy of
 * the objects written, both in the persist folder, replayed at start (DynamoDB Local keeps its own data there).
 */
export class LocalPersistence {
  private readonly journal: QueueJournal;
  private readonly mirror: ObjectMirror;

  constructor(dir: string) {
    const root = persistFolder(dir);
    this.journal = new QueueJournal(root);
    this.mirror = new ObjectMirror(join(root, 'objects'));
  }

  /**
   * Brings back what the last run left (objects first: queued claim checks point at them) and journals the
   * clients from now on. Call after the resources exist and before any poller starts.
   */
  async recover(clients: LocalClients, resources: LocalResources, targets: TargetResources): Promise<RecoverySummary> {
    const buckets = new Set<string>([LOCAL_PAYLOAD_BUCKET]);
    for (const fr of Object.values(resources.flows)) for (const b of Object.values(fr.sourceBuckets)) buckets.add(b);
    for (const byTarget of Object.values(targets.buckets)) for (const b of Object.values(byTarget)) buckets.add(b);
    const restored = await this.mirror.restore(clients.s3, (b) => buckets.has(b));
    this.mirror.attach(clients.s3);

    const urls = new Map<string, string>();
    for (const fr of Object.values(resources.flows)) {
      for (const q of Object.values(fr.queues)) {
        urls.set(q.name, q.url);
        urls.set(q.dlq.name, q.dlq.url);
      }
      for (const q of Object.values(fr.streamFailureQueues)) urls.set(q.name, q.url);
    }
    const messages = await this.journal.open(clients.sqs, (name) => urls.has(name), (name) => urls.get(name));
    const orphans = orphanClaims(restored, this.journal.liveBodies());
    for (const o of orphans) await clients.s3.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: o.key }));
    const leases = await releaseSendLeases(clients, resources.tables.state);
    const webhookClaims = await releasePendingWebhookClaims(clients, resources.tables.dedup);
    return { messages, objects: restored.length - orphans.length, leases, webhookClaims };
  }

  close(): void {
    this.journal.close();
  }
}

/**
 * The claim-check payloads that no queued message points at: written by a send the kill cut off (or consumed
 * while the kill stopped the mirror from seeing the delete). Nothing will read them, and raw values must not rest.
 */
export function orphanClaims(restored: readonly { bucket: string; key: string }[], queuedBodies: readonly string[]): { bucket: string; key: string }[] {
  const pointed = new Set(queuedBodies.map(claimOf));
  return restored.filter((o) => o.bucket === LOCAL_PAYLOAD_BUCKET && CLAIM_KEY_PATTERN.test(o.key) && !pointed.has(o.key));
}

/**
 * Lets go of every send lease in the state table. A lease is held only while a delivery is in flight, and at start
 * none is: each one left was held by the stopped run. Kept, it made the retries of that delivery find the key
 * taken until the lease ran out (the target's timeout, 35 s for HTTP), longer than the local queues' five quick
 * receives, so the record went to the DLQ. The target's idempotency key covers a request the stopped run had sent.
 */
export async function releaseSendLeases(clients: LocalClients, stateTable: string): Promise<number> {
  let released = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.doc.send(
      new ScanCommand({ TableName: stateTable, FilterExpression: 'attribute_exists(sendUntil)', ProjectionExpression: 'pk, sendOwner', ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) if (await dropSendLease(clients.doc, stateTable, String(item.pk), String(item.sendOwner))) released++;
    start = page.LastEvaluatedKey;
  } while (start);
  return released;
}

/**
 * Releases the webhook delivery ids still pending: a claim is pending only while its request is being captured, and
 * at start none is. Kept, the sender's retry of a request the kill cut off was answered 409 until it expired (60 s).
 * A request the stopped run had sent on is sent again by the retry, with the same event ids: it merges as a repeat.
 */
export async function releasePendingWebhookClaims(clients: LocalClients, dedupTable: string): Promise<number> {
  let released = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await clients.doc.send(new ScanCommand({ TableName: dedupTable, FilterExpression: 'pending = :t', ExpressionAttributeValues: { ':t': true }, ProjectionExpression: 'pk', ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      try {
        // Released as the capture does on a failure: the retry keeps the delivery's first arrival.
        await clients.doc.send(new UpdateCommand(releasedClaim(dedupTable, String(item.pk), Math.floor(Date.now() / 1000))));
        released++;
      } catch (err) {
        if (errorNameOf(err) !== 'ConditionalCheckFailedException') throw err;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return released;
}

/** Another runtime already uses a `--persist` folder. */
export class PersistFolderInUseError extends SynclineError {
  constructor(dir: string, pid: number) {
    super(`the --persist folder ${dir} is in use by another syncline runtime (pid ${pid}); stop it first or use another folder`);
    this.name = 'PersistFolderInUseError';
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes the folder for this process (`syncline.pid`): two runtimes on one folder would run two DynamoDB Local
 * servers on one database file and two journals. A file left by a killed runtime is taken over. Answers the release.
 */
export function lockPersistFolder(dir: string): () => void {
  const root = persistFolder(dir);
  const file = join(root, 'syncline.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new PersistFolderInUseError(root, pid);
      rmSync(file, { force: true });
    }
  }
  throw new PersistFolderInUseError(root, Number(readFileSync(file, 'utf8').trim()));
}

/** The `--persist` folder, made when missing; a path that is a file is refused in words, not with mkdir's EEXIST. */
function persistFolder(dir: string): string {
  const root = resolvePath(dir);
  if (existsSync(root) && !statSync(root).isDirectory()) throw new Error(`--persist ${dir} is a file, not a folder: give a folder (it is made when missing)`);
  mkdirSync(root, { recursive: true });
  return root;
}

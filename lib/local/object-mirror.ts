import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** One stored object: where it was and what it held. */
interface MirroredObject {
  readonly bucket: string;
  readonly key: string;
  readonly contentType?: string;
  /** base64 */
  readonly body: string;
}

const fileOf = (dir: string, bucket: string, key: string): string =>
  join(dir, createHash('sha256').update(`${bucket}\n${key}`).digest('hex').slice(0, 40) + '.json');

function bodyBytes(body: unknown): Buffer | undefined {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  return undefined;
}

/**
 * Keeps a copy of every object the runtime writes to the local S3 (fauxqs keeps them in memory only), so
 * `--persist` survives a restart or a kill: claim-check payloads, S3 targets, and source objects written through
 * the runtime. A PutObject is copied to disk before its answer reaches the caller, a DeleteObject removes the
 * copy, and at start the copies are written back. Objects uploaded by other clients straight to fauxqs are not kept.
 */
export class ObjectMirror {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Writes the kept objects back into the buckets that exist (`hasBucket`); answers which. */
  async restore(s3: S3Client, hasBucket: (bucket: string) => boolean): Promise<{ bucket: string; key: string }[]> {
    const restored: { bucket: string; key: string }[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      let o: MirroredObject;
      try {
        o = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as MirroredObject;
      } catch {
        continue;
      }
      if (!hasBucket(o.bucket)) continue;
      await s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: o.key, Body: Buffer.from(o.body, 'base64'), ...(o.contentType ? { ContentType: o.contentType } : {}) }));
      restored.push({ bucket: o.bucket, key: o.key });
    }
    return restored;
  }

  /** Mirrors the client's PutObject and DeleteObject(s) from now on. */
  attach(s3: S3Client): void {
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, any>;
        const result = await next(args);
        if (context.commandName === 'PutObjectCommand') {
          const bytes = bodyBytes(input.Body);
          if (bytes) this.write({ bucket: input.Bucket, key: input.Key, ...(input.ContentType ? { contentType: input.ContentType } : {}), body: bytes.toString('base64') });
        } else if (context.commandName === 'DeleteObjectCommand') {
          rmSync(fileOf(this.dir, input.Bucket, input.Key), { force: true });
        } else if (context.commandName === 'DeleteObjectsCommand') {
          for (const o of (input.Delete?.Objects ?? []) as { Key: string }[]) rmSync(fileOf(this.dir, input.Bucket, o.Key), { force: true });
        }
        return result;
      },
      { step: 'initialize', name: 'synclineObjectMirror' },
    );
  }

  private write(o: MirroredObject): void {
    const file = fileOf(this.dir, o.bucket, o.key);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(o), { mode: 0o600 });
    renameSync(tmp, file);
  }

  /** Whether a copy of the object is kept (for tests). */
  has(bucket: string, key: string): boolean {
    return existsSync(fileOf(this.dir, bucket, key));
  }
}

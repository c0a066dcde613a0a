import { createHash, randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { importS3 } from './sdk-imports';
import { CLAIM_KEY_PATTERN } from '../core/claim-check';
import type { PayloadStore } from '../ports';

export interface S3PayloadStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Clock of the date folder (ms since epoch). @default Date.now */
  readonly now?: () => number;
}

/**
 * Claim check store on S3. A body is written to `claims/<yyyy-mm-dd>/<sha256 of body>.<random>.json`: one object per
 * message, deleted by its consumer once consumed; the date folder lets a lifecycle rule expire what a failed send or
 * a dead-lettered message leaves. `get` reads only keys of that shape and checks the content against the hash in the key.
 */
export class S3PayloadStore implements PayloadStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly now: () => number;

  constructor(options: S3PayloadStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.now = options.now ?? Date.now;
  }

  async put(body: string): Promise<string> {
    const day = new Date(this.now()).toISOString().slice(0, 10);
    const key = `claims/${day}/${sha256(body)}.${randomBytes(8).toString('hex')}.json`;
    const { PutObjectCommand } = await importS3();
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json; charset=utf-8' }),
    );
    return key;
  }

  async get(pointer: string): Promise<string> {
    // Only objects the claim check wrote: a pointer can never make a consumer read anything else of the bucket.
    if (!CLAIM_KEY_PATTERN.test(pointer)) throw new Error('claim pointer is not a claims/<date>/<sha256>.<id>.json key');
    const { GetObjectCommand } = await importS3();
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: pointer }));
    if (!out.Body) throw new Error(`claim ${pointer} has no body`);
    const body = await out.Body.transformToString('utf8');
    if (sha256(body) !== pointer.slice(pointer.lastIndexOf('/') + 1).split('.')[0]) throw new Error(`claim ${pointer} does not match its hash`);
    return body;
  }

  async delete(pointer: string): Promise<void> {
    if (!CLAIM_KEY_PATTERN.test(pointer)) throw new Error('claim pointer is not a claims/<date>/<sha256>.<id>.json key');
    const { DeleteObjectCommand } = await importS3();
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: pointer }));
  }
}

const sha256 = (body: string): string => createHash('sha256').update(body, 'utf8').digest('hex');

import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CLAIM_KEY_PATTERN } from '../core/claim-check';
import type { PayloadStore } from '../ports';

export interface S3PayloadStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Clock of the date folder (ms since epoch). @default Date.now */
  readonly now?: () => number;
}

/**
 * Claim check store on S3. A body is written to `claims/<yyyy-mm-dd>/<sha256 of body>.json`: content-addressed,
 * so a retried send writes the same object, and the date folder lets a lifecycle rule expire old claims.
 * `get` reads only keys of that shape and checks the content against the hash in the key.
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
    const key = `claims/${day}/${sha256(body)}.json`;
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json; charset=utf-8' }),
    );
    return key;
  }

  async get(pointer: string): Promise<string> {
    // Only objects the claim check wrote: a pointer can never make a consumer read anything else of the bucket.
    if (!CLAIM_KEY_PATTERN.test(pointer)) throw new Error('claim pointer is not a claims/<date>/<sha256>.json key');
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: pointer }));
    if (!out.Body) throw new Error(`claim ${pointer} has no body`);
    const body = await out.Body.transformToString('utf8');
    if (`${sha256(body)}.json` !== pointer.slice(pointer.lastIndexOf('/') + 1)) throw new Error(`claim ${pointer} does not match its hash`);
    return body;
  }
}

const sha256 = (body: string): string => createHash('sha256').update(body, 'utf8').digest('hex');

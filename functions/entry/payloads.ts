import { s3Client } from '../adapters/clients';
import { S3PayloadStore } from '../adapters/s3-payload-store';
import { requireEnv } from './env';

/** The claim-check store of large queue messages: bucket PAYLOAD_BUCKET (SyncStore's payload bucket). */
export function payloadStore(): S3PayloadStore {
  return new S3PayloadStore({ client: s3Client, bucket: requireEnv('PAYLOAD_BUCKET') });
}

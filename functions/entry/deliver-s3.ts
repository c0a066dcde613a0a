import { S3Client } from '@aws-sdk/client-s3';
import { S3TargetWriter } from '../adapters/s3-target-writer';
import { deliverTarget, deliverTargetLambda } from './deliver-common';
import { requireEnv } from './env';

const step = deliverTarget('s3');
const s3 = new S3Client({});

export const handler = deliverTargetLambda(step, step.target.id, new S3TargetWriter({ client: s3, bucket: requireEnv('TARGET_BUCKET'), prefix: step.target.prefix }));

/* Building blocks of the config schema that sources, targets and flows share. */
import { z } from 'zod';

/** An EventBridge event pattern: nested objects whose leaves are arrays of matchers. */
export const eventPatternSchema = z.record(z.string(), z.unknown());

export const idSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must match ^[a-z][a-z0-9-]{0,39}$');
export const durationSchema = z
  .string()
  .regex(/^\d+\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour|hours|d|day|days)$/, 'must be a duration such as "5 minutes"');

/** A customer managed KMS key, by ARN. */
export const kmsKeyArnSchema = z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'must be a KMS key ARN, arn:aws:kms:<region>:<account>:key/<id>');

/** An S3 bucket name as S3 takes it (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
export const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (no s3:// prefix)');

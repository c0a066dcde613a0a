/* Building blocks of the config schema that sources, targets and flows share. */
import { z } from 'zod';
import { DURATION } from '../core/duration';

/** An EventBridge event pattern: nested objects whose leaves are arrays of matchers. */
export const eventPatternSchema = z.record(z.string(), z.unknown());

export const idSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must match ^[a-z][a-z0-9-]{0,39}$');
export const durationSchema = z.string().regex(DURATION, 'must be a duration such as "5 minutes"');

/** A customer managed KMS key, by ARN. */
export const kmsKeyArnSchema = z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'must be a KMS key ARN, arn:aws:kms:<region>:<account>:key/<id>');

/** An S3 bucket name as S3 takes it (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
export const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (no s3:// prefix)');

/** A DynamoDB table name (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html). */
const TABLE_NAME = '[A-Za-z0-9_.-]{3,255}';
export const tableNameSchema = z.string().regex(new RegExp(`^${TABLE_NAME}$`), 'must be a DynamoDB table name: 3 to 255 letters, digits, _ . and -');

/** A DynamoDB table by name, or by ARN (a table of another account or region). */
export const tableNameOrArnSchema = z
  .string()
  .regex(new RegExp(`^(${TABLE_NAME}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\\d{12}:table/${TABLE_NAME})$`), 'must be a DynamoDB table name (3 to 255 letters, digits, _ . and -) or a table ARN, arn:aws:dynamodb:<region>:<account>:table/<name>');

/** An EventBridge bus by name or ARN (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateEventBus.html). */
export const eventBusSchema = z
  .string()
  .regex(/^([/.\-_A-Za-z0-9]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[/.\-_A-Za-z0-9]{1,256})$/, 'must be an EventBridge bus name or ARN');

/** An http(s) URL, where `{name}` placeholders (the `allowed` ones) stand for values filled in at each request. */
export function urlTemplateSchema(allowed: readonly string[]) {
  return z
    .string()
    .min(1)
    .superRefine((url, ctx) => {
      const unknown = [...url.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!).filter((n) => !allowed.includes(n));
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', message: `placeholder {${unknown[0]}} is not filled in: use ${allowed.map((n) => `{${n}}`).join(' or ')}` });
        return;
      }
      let parsed: URL | undefined;
      try {
        parsed = new URL(url.replace(/\{[^{}]*\}/g, 'x'));
      } catch {
        parsed = undefined;
      }
      if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.hostname === '' || /\s/.test(url)) {
        ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL template with a host, such as https://api.example.com/items/{key}' });
      }
    });
}

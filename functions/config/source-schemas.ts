/* The `sources[]` of a flow: one schema per source type. */
import { z } from 'zod';
import { parseDurationMs } from '../core/duration';
import { bucketName, durationSchema, eventBusSchema, eventPatternSchema, idSchema, kmsKeyArnSchema, tableNameSchema } from './config-primitives';
import { CronError, schedulerCron } from './cron';
import { pullHttpSchema, webhookAuthSchema } from './connector-schemas';

/**
 * The largest webhook body Lambda can be invoked with: the whole API Gateway event must fit the 6 MB (6,291,456 B)
 * synchronous invocation payload, and a body sent with a non-text content type arrives base64-encoded, a third
 * larger. 4,500,000 B encode to 6,000,000 B, which leaves 291,456 B for the headers and request context. (API
 * Gateway's own 10 MB payload limit is larger.)
 */
export const MAX_WEBHOOK_BODY_BYTES = 4_500_000;
export const DEFAULT_MAX_BODY_BYTES = 1_000_000;
/**
 * Default body limit of a `debezium` source: a Debezium Server batch (200 events with their schemas) of wide tables,
 * under Lambda's 6 MB request payload once API Gateway has escaped the body into the event's JSON.
 */
export const DEBEZIUM_MAX_BODY_BYTES = 4_000_000;

const webhookSource = z
  .strictObject({
    id: idSchema,
    type: z.literal('webhook'),
    /** `json`, `debezium`, `form` (urlencoded, a `payload` field holding JSON) or `salesforce-outbound` (SOAP Outbound Messages). */
    format: z.enum(['json', 'debezium', 'form', 'salesforce-outbound']).default('json'),
    auth: webhookAuthSchema.default({ type: 'standard-webhooks' }),
    /** Dot path of the record in each event (`issue`, `data.object`); an event without one is skipped. @default the event itself */
    recordPath: z.string().min(1).optional(),
    /** Change time: a path in the record, or `$event.<path>` in the event (ISO-8601, epoch ms, or epoch seconds below 10^11). Default: capture time. */
    timestampField: z.string().min(1).optional(),
    /** Events matching this event pattern are deletes (matched against the whole event). */
    deleteWhen: eventPatternSchema.optional(),
    /** `salesforce-outbound`: the sending org; compared on its first 15 characters. */
    organizationId: z.string().regex(/^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$/, 'must be a 15- or 18-character Salesforce organization id').optional(),
    /** Largest accepted body in bytes, at most {@link MAX_WEBHOOK_BODY_BYTES}. @default 1000000, 4000000 for `debezium` (a Debezium Server batch of 200 events with schemas) */
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .max(MAX_WEBHOOK_BODY_BYTES, `must be at most ${MAX_WEBHOOK_BODY_BYTES} (4.5 MB): Lambda takes a 6 MB event, and API Gateway base64-encodes a non-text body, a third larger`)
      .optional(),
    /** Debezium table selection on `source.db` / `source.schema` / `source.table`. */
    table: z.strictObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() }).optional(),
    /** Debezium truncate events (`op: "t"`): `ignore` audits them; `delete` also deletes every key this source holds for that table. */
    onTruncate: z.enum(['ignore', 'delete']).default('ignore'),
  })
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (s.organizationId !== undefined && s.format !== 'salesforce-outbound') issue('organizationId', 'applies only to format "salesforce-outbound"');
    if (s.format === 'salesforce-outbound' && s.organizationId === undefined) issue('organizationId', 'format "salesforce-outbound" needs the sending org\'s organizationId');
    if (s.format === 'debezium' && s.recordPath !== undefined) issue('recordPath', 'does not apply to format "debezium" (the change event says where the row is)');
    if (s.timestampField === '$event.' || s.timestampField === '$event') issue('timestampField', 'give a path after "$event.", such as "$event.timestamp"');
    // A vendor signs the body, not its headers: a header time could be set by anyone replaying one signed body.
    if (s.timestampField !== undefined && /^\$headers(\.|$)/.test(s.timestampField)) {
      issue('timestampField', 'is read from the signed body (a path in the record, or "$event.<path>"): request headers are not signed, so a replayed body could carry any time there');
    }
    const headers = s.deleteWhen?.$headers;
    if (headers !== undefined) {
      const at = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', message, path: ['deleteWhen', '$headers', ...path] });
      if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) at([], 'must map header names to patterns, such as {"x-shopify-topic": ["products/delete"]}');
      else for (const name of Object.keys(headers)) if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) at([name], `header names are matched in lower case, as "${name.toLowerCase()}"`);
    }
    // Only the top level reads headers; anywhere deeper the key would be looked for in the body and never match.
    const nested = (v: unknown, path: (string | number)[]): (string | number)[] | undefined => {
      if (v === null || typeof v !== 'object') return undefined;
      for (const [k, x] of Object.entries(v)) {
        const at = [...path, Array.isArray(v) ? Number(k) : k];
        if (k === '$headers' && !Array.isArray(v)) return at;
        const found = nested(x, at);
        if (found) return found;
      }
      return undefined;
    };
    const { $headers: _top, ...rest } = s.deleteWhen ?? {};
    const deeper = nested(rest, ['deleteWhen']);
    if (deeper) ctx.addIssue({ code: 'custom', message: '"$headers" is read only at the top of deleteWhen', path: deeper });
  })
  .transform((s) => ({ ...s, maxBodyBytes: s.maxBodyBytes ?? (s.format === 'debezium' ? DEBEZIUM_MAX_BODY_BYTES : DEFAULT_MAX_BODY_BYTES) }));

const dynamodbStreamSource = z
  .strictObject({
    id: idSchema,
    type: z.literal('dynamodb-stream'),
    // A table of this account and region; one elsewhere is given by its stream's ARN.
    tableName: tableNameSchema.optional(),
    streamArn: z
      .string()
      .regex(/^arn:[^:]+:dynamodb:[^:]*:[^:]*:table\/[^/]+\/stream\/.+$/, 'must be a stream ARN: arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>')
      .optional(),
    filter: eventPatternSchema.optional(),
    attributes: z.strictObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() }).optional(),
    ignoreTtlDeletes: z.boolean().default(false),
  })
  .refine((s) => Boolean(s.tableName) !== Boolean(s.streamArn), { message: 'give exactly one of tableName or streamArn' });

const pullS3 = z.strictObject({
  bucket: bucketName,
  prefix: z.string().default(''),
  format: z.enum(['jsonl', 'csv']).default('jsonl'),
  /** The customer managed KMS key the bucket encrypts with (SSE-KMS): the pull may use it to read. */
  kmsKeyArn: kmsKeyArnSchema.optional(),
});

const scheduleSource = z
  .strictObject({
    id: idSchema,
    type: z.literal('schedule'),
    every: durationSchema
      .refine((d) => !durationSchema.safeParse(d).success || (parseDurationMs(d) >= 60_000 && parseDurationMs(d) % 60_000 === 0), 'must be whole minutes, at least "1 minute": EventBridge Scheduler runs rates in minutes')
      .optional(),
    cron: z.string().min(1).optional(),
    http: pullHttpSchema.optional(),
    s3: pullS3.optional(),
    mode: z.enum(['full', 'incremental']).default('full'),
    cursorField: z.string().optional(),
    /** Incremental mode: how far before the mark each pull reads again (a search index's lag, clocks that differ). */
    cursorLookback: durationSchema.optional(),
    deletes: z
      .strictObject({ enabled: z.boolean().default(true), maxDeleteRatio: z.number().min(0).max(1).default(0.2) })
      .optional(),
    /** Raw record fields that identify a pulled record. @default the flow's `key` (through `transform.rename`) */
    keyFields: z.array(z.string().min(1)).min(1).optional(),
    /** Runaway guard: a pull that reaches this many pages stops as partial (no delete inference). @default 10000 */
    maxPagesPerRun: z.number().int().positive().max(1_000_000).optional(),
  })
  .refine((s) => Boolean(s.every) !== Boolean(s.cron), { message: 'give exactly one of every or cron' })
  .refine((s) => Boolean(s.http) !== Boolean(s.s3), { message: 'give exactly one of http or s3' })
  .refine((s) => s.mode !== 'incremental' || Boolean(s.cursorField), { message: 'incremental mode needs cursorField' })
  .refine((s) => s.cursorLookback === undefined || s.mode === 'incremental', { message: 'cursorLookback goes back from the high-water mark: it needs mode "incremental"', path: ['cursorLookback'] })
  .superRefine((s, ctx) => {
    if (s.cron !== undefined) {
      try {
        schedulerCron(s.cron);
      } catch (err) {
        if (!(err instanceof CronError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['cron'], message: `cannot be an EventBridge Scheduler cron: ${err.message}` });
      }
    }
    if (!s.http || s.mode === 'incremental') return;
    const inBody = JSON.stringify(s.http.body ?? {}).includes('{cursor}');
    if (/\{cursor\}|%7Bcursor%7D/i.test(s.http.url) || inBody) {
      ctx.addIssue({ code: 'custom', message: '{cursor} is the incremental high-water mark: it needs mode "incremental" with a cursorField', path: ['http', inBody ? 'body' : 'url'] });
    }
  });

/**
 * Change time of a queued record: a path in it (ISO-8601, epoch ms, or epoch seconds below 10^11). Default: when SQS
 * received the message (ms, one value for a whole SendMessageBatch) or the event's `time` (whole seconds), where two
 * changes of one key at the same time are ordered arbitrarily.
 */
const queuedTimestampField = z
  .string()
  .min(1)
  .refine((f) => !/^\$(event|headers)(\.|$)/.test(f), 'is a path in the record (the message body, or the event detail); "$event." applies to webhooks')
  .optional();

const sqsSource = z.strictObject({ id: idSchema, type: z.literal('sqs'), timestampField: queuedTimestampField });

const eventbridgeSource = z.strictObject({
  id: idSchema,
  type: z.literal('eventbridge'),
  busName: eventBusSchema.default('default'),
  pattern: eventPatternSchema.refine((p) => Object.keys(p).length > 0, 'must match on at least one field (EventBridge refuses an empty pattern)'),
  timestampField: queuedTimestampField,
});

export const sourceSchema = z.discriminatedUnion('type', [webhookSource, dynamodbStreamSource, scheduleSource, sqsSource, eventbridgeSource]);

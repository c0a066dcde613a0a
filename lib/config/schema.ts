import { z } from 'zod';

/** An EventBridge event pattern: nested objects whose leaves are arrays of matchers. */
export const eventPatternSchema = z.record(z.string(), z.unknown());

const idSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must match ^[a-z][a-z0-9-]{0,39}$');
const durationSchema = z
  .string()
  .regex(/^\d+\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour|hours|d|day|days)$/, 'must be a duration such as "5 minutes"');

const webhookSource = z.strictObject({
  id: idSchema,
  type: z.literal('webhook'),
  format: z.enum(['json', 'debezium']).default('json'),
  /** Field holding the change time (ISO-8601 string or epoch ms). Default: capture time. */
  timestampField: z.string().min(1).optional(),
  /** Records matching this event pattern are deletes. */
  deleteWhen: eventPatternSchema.optional(),
  /** Largest accepted body in bytes. */
  maxBodyBytes: z.number().int().positive().max(6_000_000).default(1_000_000),
  /** Debezium table selection on `source.db` / `source.schema` / `source.table`. */
  table: z.strictObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() }).optional(),
});

const dynamodbStreamSource = z
  .strictObject({
    id: idSchema,
    type: z.literal('dynamodb-stream'),
    tableName: z.string().min(3).max(255).optional(),
    streamArn: z.string().startsWith('arn:').optional(),
    filter: eventPatternSchema.optional(),
    attributes: z.strictObject({ include: z.array(z.string()).optional(), exclude: z.array(z.string()).optional() }).optional(),
    ignoreTtlDeletes: z.boolean().default(false),
  })
  .refine((s) => Boolean(s.tableName) !== Boolean(s.streamArn), { message: 'give exactly one of tableName or streamArn' });

const pullHttp = z.strictObject({
  url: z.url(),
  itemsPath: z.string().default(''),
  pagination: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('none') }),
      z.strictObject({ type: z.literal('cursor'), cursorPath: z.string(), param: z.string() }),
      z.strictObject({ type: z.literal('page'), param: z.string().default('page'), startAt: z.number().int().default(1) }),
      z.strictObject({ type: z.literal('link') }),
    ])
    .default({ type: 'none' }),
  auth: z.strictObject({ type: z.enum(['bearer', 'basic']), secretName: z.string().min(1) }).optional(),
  timeoutMs: z.number().int().positive().max(60_000).default(10_000),
  /** Incremental mode: query parameter that carries the high-water mark of `cursorField` (e.g. `updated_since`). Without it, older records are skipped client-side. */
  cursorParam: z.string().min(1).optional(),
});

const pullS3 = z.strictObject({
  bucket: z.string().min(3),
  prefix: z.string().default(''),
  format: z.enum(['jsonl', 'csv']).default('jsonl'),
});

const scheduleSource = z
  .strictObject({
    id: idSchema,
    type: z.literal('schedule'),
    every: durationSchema.optional(),
    cron: z.string().min(1).optional(),
    http: pullHttp.optional(),
    s3: pullS3.optional(),
    mode: z.enum(['full', 'incremental']).default('full'),
    cursorField: z.string().optional(),
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
  .refine((s) => s.mode !== 'incremental' || Boolean(s.cursorField), { message: 'incremental mode needs cursorField' });

const sqsSource = z.strictObject({ id: idSchema, type: z.literal('sqs') });

const eventbridgeSource = z.strictObject({
  id: idSchema,
  type: z.literal('eventbridge'),
  busName: z.string().min(1).default('default'),
  pattern: eventPatternSchema,
});

export const sourceSchema = z.union([webhookSource, dynamodbStreamSource, scheduleSource, sqsSource, eventbridgeSource]);

export const maskKindSchema = z.enum(['redact', 'hash', 'last4', 'email']);

export const transformSchema = z
  .strictObject({
    include: z.array(z.string().min(1)).optional(),
    exclude: z.array(z.string().min(1)).optional(),
    rename: z.record(z.string(), z.string().min(1)).optional(),
    set: z.record(z.string(), z.unknown()).optional(),
    /** field -> JSONata expression evaluated against the record. */
    compute: z.record(z.string(), z.string().min(1)).optional(),
    /** EventBridge event pattern; records that do not match are filtered out. */
    filter: eventPatternSchema.optional(),
    mask: z.record(z.string(), maskKindSchema).optional(),
    detectPii: z.enum(['off', 'flag', 'mask']).default('off'),
    /** JSON Schema (draft 2020-12 or draft-07) the record must satisfy. */
    schema: z.record(z.string(), z.unknown()).optional(),
    /** Time limit per JSONata expression in milliseconds. */
    computeTimeoutMs: z.number().int().positive().max(10_000).default(250),
  })
  .default({ detectPii: 'off', computeTimeoutMs: 250 });

export const conflictSchema = z
  .strictObject({
    strategy: z.enum(['lww', 'field-lww', 'priority', 'manual']).default('lww'),
    /** Per-field source ranking for `priority`: `{"*": ["crm", "erp"], "email": ["erp"]}`. */
    priority: z.record(z.string(), z.array(idSchema).min(1)).optional(),
    /** Source order that breaks timestamp ties (first wins). Default: the order of `sources`. */
    sourceOrder: z.array(idSchema).optional(),
    /** For `manual`: edits further apart than this are not concurrent. Default: any two unacknowledged edits are. */
    concurrencyWindow: durationSchema.optional(),
    /** For `manual`: an open conflict older than this is settled by `autoResolveWith`. Give both or neither. */
    autoResolveAfter: durationSchema.optional(),
    /** For `manual`: the strategy whose winner settles a conflict open longer than `autoResolveAfter`. */
    autoResolveWith: z.enum(['lww', 'priority']).optional(),
    /**
     * For `manual`: the EventBridge bus (name or ARN) that receives `syncline.ConflictOpened` events.
     * @default the account's default bus
     */
    eventBusName: z
      .string()
      .regex(/^([/.\-_A-Za-z0-9]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[/.\-_A-Za-z0-9]{1,256})$/, 'must be an EventBridge bus name or ARN')
      .optional(),
  })
  .default({ strategy: 'lww' })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (c.strategy === 'priority' && c.priority === undefined) issue('priority', 'strategy "priority" needs a priority map such as {"*": ["crm", "erp"]}');
    const manualOnly = (['autoResolveAfter', 'autoResolveWith', 'eventBusName'] as const).filter((f) => c[f] !== undefined);
    if (c.strategy !== 'manual') {
      for (const f of manualOnly) issue(f, `applies only to strategy "manual" (this flow uses "${c.strategy}")`);
      return;
    }
    if (c.autoResolveAfter !== undefined && c.autoResolveWith === undefined) issue('autoResolveWith', 'autoResolveAfter needs autoResolveWith ("lww" or "priority"): the strategy that settles old conflicts');
    if (c.autoResolveWith !== undefined && c.autoResolveAfter === undefined) issue('autoResolveAfter', 'autoResolveWith needs autoResolveAfter (a duration such as "1 hour"): when a conflict falls back to it');
    if (c.autoResolveWith === 'priority' && c.priority === undefined) issue('priority', 'autoResolveWith "priority" needs a priority map such as {"*": ["crm", "erp"]}');
  });

/** Fields of the transformed record (or declared `pii` names) a target is meant to receive unmasked. */
const allowPii = z.array(z.string().min(1)).optional();

const dynamodbTarget = z.strictObject({
  id: idSchema,
  type: z.literal('dynamodb'),
  allowPii,
  /** An existing table (name or ARN). Omit to have the stack create one. */
  tableName: z.string().min(3).optional(),
  /** Partition key attribute of the target table. */
  keyAttribute: z.string().min(1).default('id'),
});

const s3Target = z.strictObject({
  id: idSchema,
  type: z.literal('s3'),
  allowPii,
  bucket: z.string().min(3).optional(),
  prefix: z.string().default(''),
  format: z.literal('jsonl').default('jsonl'),
});

const eventbridgeTarget = z.strictObject({
  id: idSchema,
  type: z.literal('eventbridge'),
  allowPii,
  busName: z.string().min(1).default('default'),
  detailType: z.string().min(1).default('syncline.RecordChanged'),
  source: z.string().min(1).default('syncline'),
});

const httpTarget = z.strictObject({
  id: idSchema,
  type: z.literal('http'),
  allowPii,
  url: z.string().min(1).regex(/^https?:\/\//, 'must be an http(s) URL template'),
  method: z
    .union([z.enum(['POST', 'PUT', 'PATCH']), z.strictObject({ upsert: z.enum(['POST', 'PUT', 'PATCH']), delete: z.enum(['DELETE', 'POST', 'PUT', 'PATCH']).optional() })])
    .default('PUT'),
  body: z.string().optional(),
  /** Secrets Manager secret holding the credential. */
  secretName: z.string().min(1).optional(),
  /** How the secret is used: a bearer token, `user:password` for basic auth, or a Standard Webhooks signing secret. */
  authType: z.enum(['bearer', 'basic', 'webhook']).default('bearer'),
  rateLimitPerSecond: z.number().positive().max(10_000).optional(),
  timeoutMs: z.number().int().positive().max(60_000).default(10_000),
});

const sqsTarget = z.strictObject({
  id: idSchema,
  type: z.literal('sqs'),
  allowPii,
  queueArn: z.string().startsWith('arn:'),
});

export const targetSchema = z.union([dynamodbTarget, s3Target, eventbridgeTarget, httpTarget, sqsTarget]);

export const auditSchema = z
  .strictObject({
    level: z.enum(['all', 'decisions', 'errors']).default('all'),
    retentionDays: z.number().int().positive().max(3650).default(90),
  })
  .default({ level: 'all', retentionDays: 90 });

/** Alarm thresholds; a flow's `alarms` overrides the stack's field by field. */
const alarmThresholds = {
  /** p99 of `LagMs` (source `ts` to delivery) over 5 minutes that raises the lag alarm, in milliseconds. */
  lagP99Ms: z.number().int().positive(),
  /** Percentage of a function's invocations that errored over 5 minutes that raises its error-rate alarm. */
  errorRatePercent: z.number().positive().max(100),
};

export const flowAlarmsSchema = z.strictObject({
  lagP99Ms: alarmThresholds.lagP99Ms.optional(),
  errorRatePercent: alarmThresholds.errorRatePercent.optional(),
});

export const alarmsSchema = z
  .strictObject({
    lagP99Ms: alarmThresholds.lagP99Ms.default(300_000),
    errorRatePercent: alarmThresholds.errorRatePercent.default(5),
  })
  .default({ lagP99Ms: 300_000, errorRatePercent: 5 });

export const flowSchema = z
  .strictObject({
    id: idSchema,
    description: z.string().optional(),
    key: z.array(z.string().min(1)).min(1),
    /** Raw field names (as the sources send them) holding personal data: followed through the transform at synth. */
    pii: z.array(z.string().min(1)).optional(),
    sources: z.array(sourceSchema).min(1),
    transform: transformSchema,
    conflict: conflictSchema,
    targets: z.array(targetSchema).min(1),
    audit: auditSchema,
    /** Alarm thresholds of this flow. @default the stack's `alarms` */
    alarms: flowAlarmsSchema.optional(),
  })
  .superRefine((flow, ctx) => {
    for (const [name, list] of [
      ['sources', flow.sources],
      ['targets', flow.targets],
    ] as const) {
      const seen = new Set<string>();
      list.forEach((item, i) => {
        if (seen.has(item.id)) ctx.addIssue({ code: 'custom', message: `duplicate id "${item.id}"`, path: [name, i, 'id'] });
        seen.add(item.id);
      });
    }
    const sourceIds = new Set(flow.sources.map((s) => s.id));
    for (const [field, ranking] of Object.entries(flow.conflict.priority ?? {})) {
      ranking.forEach((src, i) => {
        if (!sourceIds.has(src)) ctx.addIssue({ code: 'custom', message: `unknown source "${src}"`, path: ['conflict', 'priority', field, i] });
      });
    }
  });

export const configSchema = z.strictObject({
  flows: z.array(flowSchema).min(1),
  /** Stack name used by `bin/app.ts`. */
  stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/).default('Syncline'),
  /** `destroy` for development stacks; `retain` keeps tables when the stack is deleted. */
  removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  /** Email address subscribed to the alarm topic. */
  alarmEmail: z.email().optional(),
  /** Alarm thresholds of every flow (a flow's own `alarms` overrides them). */
  alarms: alarmsSchema,
  /** Largest number of flows in one stack before flows are split into nested stacks. */
  flowsPerStack: z.number().int().min(1).max(10).default(5),
}).superRefine((config, ctx) => {
  const seen = new Set<string>();
  config.flows.forEach((flow, i) => {
    if (seen.has(flow.id)) ctx.addIssue({ code: 'custom', message: `duplicate flow id "${flow.id}"`, path: ['flows', i, 'id'] });
    seen.add(flow.id);
  });
});

export type SynclineConfigInput = z.input<typeof configSchema>;
export type SynclineConfig = z.output<typeof configSchema>;
export type FlowConfig = z.output<typeof flowSchema>;
export type SourceConfig = z.output<typeof sourceSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type TransformConfig = z.output<typeof transformSchema>;
export type ConflictConfig = z.output<typeof conflictSchema>;
export type AlarmThresholds = z.output<typeof alarmsSchema>;
export type MaskKind = z.output<typeof maskKindSchema>;
export type SourceType = SourceConfig['type'];
export type TargetType = TargetConfig['type'];

import { z } from 'zod';
import { bucketName, durationSchema, eventBusSchema, eventPatternSchema, idSchema, kmsKeyArnSchema, tableNameOrArnSchema, urlTemplateSchema } from './config-primitives';
import { pullAuthSchema, secretNameSchema } from './connector-schemas';
import { sourceSchema } from './source-schemas';
import { carryProblems } from '../core/json-safety';

export { pullHttpSchema, webhookAuthSchema } from './connector-schemas';
export { eventPatternSchema } from './config-primitives';
export { DEBEZIUM_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES, sourceSchema } from './source-schemas';

export const maskKindSchema = z.enum(['redact', 'hash', 'last4', 'email']);

const PROTO_MESSAGE = 'a field path may not pass through __proto__ (JavaScript objects take it as their prototype, so the field would vanish): choose another name';
const throughProto = (path: string) => path.split('.').includes('__proto__');
/** A dotted field path of the transform. */
const fieldPath = z.string().min(1).refine((path) => !throughProto(path), PROTO_MESSAGE);
/** A map keyed by field paths: zod's record passes a `__proto__` key over, so the keys are checked on the input. */
const byFieldPath = <V extends z.ZodType>(value: V) =>
  z
    .unknown()
    .superRefine((v, ctx) => {
      if (v === null || typeof v !== 'object') return;
      for (const k of Object.keys(v)) if (throughProto(k)) ctx.addIssue({ code: 'custom', message: PROTO_MESSAGE, path: [k] });
    })
    .pipe(z.record(z.string(), value));

/** A value `set` writes, checked as a captured record is: one that cannot be carried exactly would quarantine every record. */
const setValue = z.unknown().superRefine((v, ctx) => {
  const problems = carryProblems(v);
  if (problems.length > 0) ctx.addIssue({ code: 'custom', message: `cannot be carried exactly, so every record would be quarantined: ${problems.join('; ')}` });
});

export const transformSchema = z
  .strictObject({
    include: z.array(fieldPath).optional(),
    exclude: z.array(fieldPath).optional(),
    rename: byFieldPath(fieldPath).optional(),
    set: byFieldPath(setValue).optional(),
    /** field -> JSONata expression evaluated against the record. */
    compute: byFieldPath(z.string().min(1)).optional(),
    /** EventBridge event pattern; records that do not match are filtered out. */
    filter: eventPatternSchema.optional(),
    mask: byFieldPath(maskKindSchema).optional(),
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
    eventBusName: eventBusSchema.optional(),
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
  tableName: tableNameOrArnSchema.optional(),
  /** Partition key attribute of the target table. */
  keyAttribute: z.string().min(1).default('id'),
});

const s3Target = z.strictObject({
  id: idSchema,
  type: z.literal('s3'),
  allowPii,
  bucket: bucketName.optional(),
  prefix: z.string().default(''),
  format: z.literal('jsonl').default('jsonl'),
  /** The customer managed KMS key an existing bucket encrypts with (SSE-KMS): the delivery function may use it to write. */
  kmsKeyArn: kmsKeyArnSchema.optional(),
}).refine((t) => !t.kmsKeyArn || t.bucket, { message: 'is the key of an existing bucket: give bucket too (a bucket the stack creates is encrypted with SSE-S3)', path: ['kmsKeyArn'] });

const eventbridgeTarget = z.strictObject({
  id: idSchema,
  type: z.literal('eventbridge'),
  allowPii,
  busName: eventBusSchema.default('default'),
  detailType: z.string().min(1).default('syncline.RecordChanged'),
  source: z.string().min(1).default('syncline'),
});

export { httpTargetAuth } from './http-target-auth';

const httpTarget = z
  .strictObject({
    id: idSchema,
    type: z.literal('http'),
    allowPii,
    /** Holds `{key}`, and `{remoteId}` with `create`. */
    url: urlTemplateSchema(['key', 'remoteId']),
    method: z
      .union([z.enum(['POST', 'PUT', 'PATCH']), z.strictObject({ upsert: z.enum(['POST', 'PUT', 'PATCH']), delete: z.enum(['DELETE', 'POST', 'PUT', 'PATCH']).optional() })])
      .default('PUT'),
    body: z.string().optional(),
    /** Credentials like a pull's, or `webhook` to sign as Standard Webhooks. */
    auth: z.discriminatedUnion('type', [...pullAuthSchema.options, z.strictObject({ type: z.literal('webhook'), secretName: secretNameSchema })]).optional(),
    /** Secrets Manager secret holding the credential (the older form of `auth`). */
    secretName: secretNameSchema.optional(),
    /** How `secretName` is used: a bearer token, `user:password` for basic auth, or a Standard Webhooks signing secret. */
    authType: z.enum(['bearer', 'basic', 'webhook']).default('bearer'),
    /** Keys without a remote id are created with this request; the id read at `idPath` (or `$location`) is kept for `{remoteId}`. */
    create: z
      .strictObject({
        url: urlTemplateSchema(['key']),
        method: z.enum(['POST', 'PUT']).default('POST'),
        /** Dot path of the id in the JSON answer, or `$location` for the last segment of the `Location` header. */
        idPath: z.string().min(1),
        /** JSONata body of the create request. @default the target's `body` */
        body: z.string().optional(),
      })
      .optional(),
    rateLimitPerSecond: z.number().positive().max(10_000).optional(),
    timeoutMs: z.number().int().positive().max(60_000).default(10_000),
  })
  .superRefine((t, ctx) => {
    if (t.auth && t.secretName) ctx.addIssue({ code: 'custom', message: 'give auth or secretName + authType, not both', path: ['secretName'] });
    if (t.create && !t.url.includes('{remoteId}')) ctx.addIssue({ code: 'custom', message: 'with create, url must hold {remoteId}: updates and deletes go to the created record', path: ['url'] });
    if (!t.create && t.url.includes('{remoteId}')) ctx.addIssue({ code: 'custom', message: '{remoteId} needs create: the request that makes the remote id', path: ['url'] });
  });

export type HttpTargetAuth = NonNullable<z.output<typeof httpTarget>['auth']>;

const sqsTarget = z.strictObject({
  id: idSchema,
  type: z.literal('sqs'),
  allowPii,
  /** The queue, in any account and region (the other account's queue policy must allow the delivery role). */
  queueArn: z.string().regex(/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$/, 'must be a standard SQS queue ARN, arn:aws:sqs:<region>:<account>:<name>'),
  /** The customer managed KMS key the queue is encrypted with: the delivery function may use it to send. */
  kmsKeyArn: kmsKeyArnSchema.optional(),
});

export const targetSchema = z.discriminatedUnion('type', [dynamodbTarget, s3Target, eventbridgeTarget, httpTarget, sqsTarget]);

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
  /** Records quarantined per 100 captured over 5 minutes that raise a flow's quarantine alarm. */
  quarantinePercent: z.number().positive().max(100),
};

export const flowAlarmsSchema = z.strictObject({
  lagP99Ms: alarmThresholds.lagP99Ms.optional(),
  errorRatePercent: alarmThresholds.errorRatePercent.optional(),
  quarantinePercent: alarmThresholds.quarantinePercent.optional(),
});

export const alarmsSchema = z
  .strictObject({
    lagP99Ms: alarmThresholds.lagP99Ms.default(300_000),
    errorRatePercent: alarmThresholds.errorRatePercent.default(5),
    quarantinePercent: alarmThresholds.quarantinePercent.default(5),
  })
  .default({ lagP99Ms: 300_000, errorRatePercent: 5, quarantinePercent: 5 });

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
    flow.key.forEach((field, i) => {
      if (flow.key.indexOf(field) !== i) ctx.addIssue({ code: 'custom', message: `"${field}" is already part of the key`, path: ['key', i] });
    });
    if (flow.key.length > 1) {
      flow.targets.forEach((t, i) => {
        if (t.type !== 'dynamodb' || !flow.key.includes(t.keyAttribute)) return;
        const message = `"${t.keyAttribute}" is a key field, but the item's "${t.keyAttribute}" holds the whole key (${flow.key.join('#')}), which would replace the record's own value: name another attribute, such as "pk"`;
        ctx.addIssue({ code: 'custom', message, path: ['targets', i, 'keyAttribute'] });
      });
    }
    const sourceIds = new Set(flow.sources.map((s) => s.id));
    const rankings: [(string | number)[], readonly string[]][] = Object.entries(flow.conflict.priority ?? {}).map(([field, r]) => [['conflict', 'priority', field], r]);
    if (flow.conflict.sourceOrder) rankings.push([['conflict', 'sourceOrder'], flow.conflict.sourceOrder]);
    for (const [path, ranking] of rankings) {
      ranking.forEach((src, i) => {
        if (!sourceIds.has(src)) ctx.addIssue({ code: 'custom', message: `unknown source "${src}"`, path: [...path, i] });
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
  /**
   * Pins flows to a stack by id: 0 the root stack, N the nested stack `FlowsN`. A flow not named here goes by its
   * position (the first `flowsPerStack` in the root, and so on), so pinning keeps a deployed flow where it is when one
   * before it is removed or the list is reordered.
   */
  flowStacks: z.record(z.string(), z.number().int().min(0).max(99)).optional(),
}).superRefine((config, ctx) => {
  const seen = new Set<string>();
  const ids = new Set(config.flows.map((f) => f.id));
  for (const id of Object.keys(config.flowStacks ?? {})) {
    if (!ids.has(id)) ctx.addIssue({ code: 'custom', message: `no flow "${id}" to pin (flows: ${[...ids].join(', ')})`, path: ['flowStacks', id] });
  }
  // The stack creates a named webhook secret in the flow that names it; a second flow would create it again.
  const webhookSecretOwner = new Map<string, string>();
  config.flows.forEach((flow, i) => {
    if (seen.has(flow.id)) ctx.addIssue({ code: 'custom', message: `duplicate flow id "${flow.id}"`, path: ['flows', i, 'id'] });
    seen.add(flow.id);
    const named = new Set(flow.sources.flatMap((s) => (s.type === 'webhook' && s.auth.secretName ? [s.auth.secretName] : [])));
    flow.sources.forEach((s, j) => {
      const name = s.type === 'webhook' ? s.auth.secretName : undefined;
      if (name === undefined || !named.delete(name)) return;
      const owner = webhookSecretOwner.get(name);
      if (owner !== undefined) {
        ctx.addIssue({ code: 'custom', message: `the stack creates webhook secret "${name}" for flow "${owner}" already: give this flow's source its own secret`, path: ['flows', i, 'sources', j, 'auth', 'secretName'] });
      } else webhookSecretOwner.set(name, flow.id);
    });
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

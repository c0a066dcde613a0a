import { z } from 'zod';
import { messageOf } from '../core/errors';

/* The messages syncline's own queues carry, and how a step parses them: errors list paths, never values. */

/** Parses a JSON message body against a schema; the error lists paths and messages, never values. */
export function parseBody<S extends z.ZodType>(schema: S, body: string): { ok: true; value: z.output<S> } | { ok: false; errors: string[] } {
  return parseBodyBy(() => schema, body);
}

/** A message of the transform or resolve queue: a change envelope, or a truncate to expand (`kind: "truncate"`). */
export function parseStepMessage(body: string): { ok: true; value: z.output<typeof envelopeSchema> | z.output<typeof truncateMessageSchema> } | { ok: false; errors: string[] } {
  return parseBodyBy((json) => ((json as { kind?: unknown } | null)?.kind === 'truncate' ? truncateMessageSchema : envelopeSchema), body);
}

/** A parsed step message that is a truncate. */
export const isTruncate = (m: object): m is z.output<typeof truncateMessageSchema> => (m as { kind?: unknown }).kind === 'truncate';

function parseBodyBy<S extends z.ZodType>(schemaOf: (json: unknown) => S, body: string): { ok: true; value: z.output<S> } | { ok: false; errors: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, errors: [`body is not valid JSON: ${messageOf(err)}`] };
  }
  const parsed = schemaOf(json).safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`) };
}

const lineageStepSchema = z.object({ step: z.enum(['capture', 'transform', 'resolve', 'deliver']), at: z.number(), outcome: z.string() });

/** A ChangeEnvelope as it travels in a queue message. */
export const envelopeSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  flow: z.string().min(1),
  source: z.string().min(1),
  key: z.string(),
  op: z.enum(['upsert', 'delete']),
  data: z.record(z.string(), z.unknown()).optional(),
  before: z.record(z.string(), z.unknown()).optional(),
  ts: z.number().finite(),
  seq: z.string(),
  pos: z.string().min(1).optional(),
  tbl: z.string().min(1).optional(),
  keep: z.array(z.string()).optional(),
  lineage: z.array(lineageStepSchema),
  origin: z
    .object({ flow: z.string(), target: z.string(), version: z.number(), hash: z.string(), ts: z.number() })
    .optional(),
  piiFlagged: z.array(z.string()).optional(),
});

/** A truncate to expand into deletes (see TruncateMessage). */
export const truncateMessageSchema = z.object({
  v: z.literal(1),
  kind: z.literal('truncate'),
  id: z.string().min(1),
  flow: z.string().min(1),
  source: z.string().min(1),
  table: z.string().min(1),
  ts: z.number().finite(),
  seq: z.string(),
  pos: z.string().min(1).optional(),
  at: z.number().finite(),
  cursor: z.string().min(1).optional(),
});

/** A resolved change as the resolve step sends it to each target's delivery queue. */
export const deliveryMessageSchema = z.object({
  v: z.literal(1),
  flow: z.string().min(1),
  key: z.string().min(1),
  version: z.number().int().positive(),
  hash: z.string(),
  ts: z.number(),
  eventIds: z.array(z.string()),
  /** Set by a replay: deliver even where the target's marker already has this version. */
  replay: z.object({ by: z.string(), at: z.number() }).optional(),
});
export type DeliveryMessage = z.output<typeof deliveryMessageSchema>;

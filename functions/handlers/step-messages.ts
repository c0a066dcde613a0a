import { jsonErrorText } from '../core/error-text';
import { array, issueLines, literal, number, object, oneOf, optional, record, safeParse, string, unknown, type Infer, type Shape } from '../core/shape';

/* The messages syncline's own queues carry, and how a step parses them: errors list paths, never values. */

type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Parses a JSON message body against a shape; the error lists paths and messages, never values. */
export function parseBody<S extends Shape<unknown>>(schema: S, body: string): Parsed<Infer<S>> {
  return parseBodyBy(() => schema, body);
}

/** A message of the transform or resolve queue: a change envelope, or a truncate to expand (`kind: "truncate"`). */
export function parseStepMessage(body: string): Parsed<Infer<typeof envelopeSchema> | Infer<typeof truncateMessageSchema>> {
  return parseBodyBy<typeof envelopeSchema | typeof truncateMessageSchema>((json) => ((json as { kind?: unknown } | null)?.kind === 'truncate' ? truncateMessageSchema : envelopeSchema), body);
}

/** A parsed step message that is a truncate. */
export const isTruncate = (m: object): m is Infer<typeof truncateMessageSchema> => (m as { kind?: unknown }).kind === 'truncate';

function parseBodyBy<S extends Shape<unknown>>(schemaOf: (json: unknown) => S, body: string): Parsed<Infer<S>> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return { ok: false, errors: [`body is not valid JSON: ${jsonErrorText(err)}`] };
  }
  const parsed = safeParse(schemaOf(json), json);
  if (parsed.success) return { ok: true, value: parsed.data as Infer<S> };
  return { ok: false, errors: issueLines(parsed.issues) };
}

const nonEmpty = () => string({ min: 1 });
const lineageStepSchema = object({ step: oneOf(['capture', 'transform', 'resolve', 'deliver']), at: number(), outcome: string() });

/** A ChangeEnvelope as it travels in a queue message. */
export const envelopeSchema = object({
  v: literal(1),
  id: nonEmpty(),
  flow: nonEmpty(),
  source: nonEmpty(),
  key: string(),
  op: oneOf(['upsert', 'delete']),
  data: optional(record(unknown())),
  before: optional(record(unknown())),
  ts: number(),
  seq: string(),
  pos: optional(nonEmpty()),
  tbl: optional(nonEmpty()),
  keep: optional(array(string())),
  lineage: array(lineageStepSchema),
  origin: optional(object({ flow: string(), target: string(), version: number(), hash: string(), ts: number() })),
  piiFlagged: optional(array(string())),
});

/** A truncate to expand into deletes (see TruncateMessage). */
export const truncateMessageSchema = object({
  v: literal(1),
  kind: literal('truncate'),
  id: nonEmpty(),
  flow: nonEmpty(),
  source: nonEmpty(),
  table: nonEmpty(),
  ts: number(),
  seq: string(),
  pos: optional(nonEmpty()),
  at: number(),
  cursor: optional(nonEmpty()),
});

/** A resolved change as the resolve step sends it to each target's delivery queue. */
export const deliveryMessageSchema = object({
  v: literal(1),
  flow: nonEmpty(),
  key: nonEmpty(),
  version: number({ int: true, gt: 0 }),
  /** Content hash of the resolved view: sent by earlier releases, read by none (a delivery hashes the state it reads). */
  hash: optional(string()),
  ts: number(),
  eventIds: array(string()),
  /** Set by a replay: deliver even where the target's marker already has this version. */
  replay: optional(object({ by: string(), at: number() })),
});
export type DeliveryMessage = Infer<typeof deliveryMessageSchema>;

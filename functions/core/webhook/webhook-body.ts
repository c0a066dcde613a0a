import { createHash } from 'node:crypto';
import type { SourceConfig } from '../../config/schema';
import { InexactNumber, isJsonObject as isObject, jsonDepth, MAX_BODY_DEPTH, parseJsonExact } from '../json-safety';
import { parseOutboundMessage, sameOrganization } from './salesforce-outbound';
import { jsonErrorText } from '../error-text';

type WebhookSource = Extract<SourceConfig, { type: 'webhook' }>;

export const MAX_RECORDS_PER_REQUEST = 500;

/** A webhook body read by its source's `format`: events, Debezium change events, or the 4xx it earns. */
export type WebhookBody =
  | { readonly kind: 'events'; readonly events: readonly Record<string, unknown>[]; readonly deliveryId?: string }
  | { readonly kind: 'debezium'; readonly body: unknown }
  | { readonly kind: 'refused'; readonly status: 400 | 403; readonly message: string };

const refused = (status: 400 | 403, message: string): WebhookBody => ({ kind: 'refused', status, message });

export function readWebhookBody(source: WebhookSource, rawBody: string): WebhookBody {
  switch (source.format) {
    case 'debezium': {
      const body = parseJson(rawBody);
      if ('error' in body) return refused(400, body.error);
      // Numbers beyond a double stay exact: the Debezium reader rounds only metadata such as `source.ts_ns`.
      const problem = checkDebeziumShape(body.value);
      return problem ? refused(400, problem) : { kind: 'debezium', body: body.value };
    }
    case 'form':
      return readForm(rawBody);
    case 'salesforce-outbound':
      // A bundle for a flow without such a source leaves the XML parser out (esbuild define, function-bundling.ts).
      return typeof __SYNCLINE_READS_XML__ === 'undefined' || __SYNCLINE_READS_XML__
        ? readOutboundMessage(source, rawBody)
        : refused(400, `source "${source.id}" reads no Salesforce Outbound Messages in this deployment`);
    case 'json': {
      const body = parseJson(rawBody);
      if ('error' in body) return refused(400, body.error);
      return eventsOf(body.value);
    }
  }
}

/** Whether the function's bundle holds the XML parser; undefined when unbundled. */
declare const __SYNCLINE_READS_XML__: boolean | undefined;

/** A Salesforce Outbound Message (SOAP): its notifications, acknowledged as one delivery. */
function readOutboundMessage(source: WebhookSource, rawBody: string): WebhookBody {
  const parsed = parseOutboundMessage(rawBody);
  if (!parsed.ok) return refused(400, parsed.reason);
  const { organizationId, notifications } = parsed.message;
  if (!sameOrganization(organizationId, source.organizationId!)) {
    return refused(403, `Outbound Message from organization ${organizationId.slice(0, 15)}, but source "${source.id}" accepts only ${source.organizationId!.slice(0, 15)}`);
  }
  if (notifications.length > MAX_RECORDS_PER_REQUEST) return refused(400, `an Outbound Message holds at most ${MAX_RECORDS_PER_REQUEST} notifications, got ${notifications.length}`);
  // Salesforce resends a message with the same notification ids until it is acknowledged.
  // Hashed: up to 100 ids would not fit a DynamoDB key.
  const deliveryId = notifications.length ? `sf:${createHash('sha256').update(notifications.map((n) => n.id).join(',')).digest('hex')}` : undefined;
  return { kind: 'events', events: notifications.map((n) => n.record), ...(deliveryId ? { deliveryId } : {}) };
}

/** `application/x-www-form-urlencoded`: a `payload` field holding JSON is the event (GitHub's form content type); else the fields are. */
function readForm(rawBody: string): WebhookBody {
  if (rawBody.trimStart().startsWith('{') || rawBody.trimStart().startsWith('[')) {
    return refused(400, 'body is JSON, but this source reads application/x-www-form-urlencoded (format "form"): send form fields, or set format "json"');
  }
  const params = new URLSearchParams(rawBody);
  const payload = params.get('payload');
  if (payload !== null) {
    // The request's depth was measured on its encoded form: the JSON inside is measured before it is parsed.
    const depth = jsonDepth(payload);
    if (depth > MAX_BODY_DEPTH) return refused(400, `form field "payload" nests ${depth} levels deep; the limit is ${MAX_BODY_DEPTH}`);
    const body = parseJson(payload);
    if ('error' in body) return refused(400, `form field "payload" ${body.error.replace(/^body /, '')}`);
    return eventsOf(body.value);
  }
  const fields: Record<string, unknown> = {};
  for (const [k, v] of params) fields[k] = v;
  if (Object.keys(fields).length === 0) return refused(400, 'form body is empty: expected a "payload" field holding JSON, or form fields');
  return { kind: 'events', events: [fields] };
}

function eventsOf(value: unknown): WebhookBody {
  const problem = checkShape(value);
  if (problem) return refused(400, problem);
  return { kind: 'events', events: (Array.isArray(value) ? value : [value]) as Record<string, unknown>[] };
}

function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    // Numbers a double cannot hold stay exact until the record's fate is decided.
    return { value: parseJsonExact(text) };
  } catch (err) {
    return { error: `body is not valid JSON: ${jsonErrorText(err)}` };
  }
}

/** A Debezium body: one event object or an array of them; `null` (alone or as an element) is a tombstone, other bad elements are quarantined. */
function checkDebeziumShape(body: unknown): string | undefined {
  if (body === null) return undefined;
  if (Array.isArray(body)) {
    return body.length > MAX_RECORDS_PER_REQUEST ? `an array body holds at most ${MAX_RECORDS_PER_REQUEST} change events, got ${body.length}` : undefined;
  }
  if (!isObject(body)) return `body must be a Debezium change event object or an array of them, got ${kindOf(body)}`;
  return undefined;
}

function checkShape(body: unknown): string | undefined {
  if (Array.isArray(body)) {
    if (body.length > MAX_RECORDS_PER_REQUEST) return `an array body holds at most ${MAX_RECORDS_PER_REQUEST} records, got ${body.length}`;
    const bad = body.findIndex((r) => !isObject(r));
    if (bad >= 0) return `body[${bad}] is ${kindOf(body[bad])}, not an object: an array body must hold only objects`;
    return undefined;
  }
  if (!isObject(body)) return `body must be a JSON object or an array of objects, got ${kindOf(body)}`;
  return undefined;
}

export { isObject };
export const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : v instanceof InexactNumber ? 'a number' : `a ${typeof v}`);

import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { FlowConfig, SourceConfig } from '../../lib/config/schema';
import { parseDebeziumBody } from '../core/capture/debezium';
import { canonicalJson, ENVELOPE_VERSION, eventId, getPath, keyOf, type ChangeEnvelope } from '../core/envelope';
import { MAX_RECORD_BYTES } from '../core/claim-check';
import { matchesPattern } from '../core/event-pattern';
import { keyUntouchedByTransform, maskForQuarantine } from '../core/transform/raw-record';
import {
  type AuditEntry,
  type AuditLog,
  type Clock,
  type DedupRelease,
  type DedupStore,
  type LogPort,
  type MetricsPort,
  type Publisher,
  type QuarantineItem,
  type QuarantineStore,
  type Secrets,
  telemetryOf,
} from '../ports';
import { auditable, describeError } from './sqs-batch';

type WebhookSource = Extract<SourceConfig, { type: 'webhook' }>;

/** Dependencies of the webhook capture function of one flow. */
export interface WebhookCaptureDeps {
  readonly flow: FlowConfig;
  /**
   * Serve only this source (the AWS function of one source); other source ids answer 404.
   * @default every webhook source of the flow
   */
  readonly sourceId?: string;
  readonly secrets: Secrets;
  /** Name (or ARN) of each webhook source's signing secret in `secrets`, by source id. */
  readonly webhookSecrets: Readonly<Record<string, string>>;
  readonly transformQueueUrl: string;
  readonly publisher: Publisher;
  /** Replay protection by `webhook-id`; with `release`, a request that failed on our side can be retried. */
  readonly dedup: DedupStore & Partial<DedupRelease>;
  readonly audit: AuditLog;
  readonly quarantine: QuarantineStore;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

export type WebhookCaptureHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export const MAX_RECORDS_PER_REQUEST = 500;
export const DEDUP_TTL_SECONDS = 24 * 3600;

/** Our answer to a request: never a 5xx for bad input; infrastructure failures throw instead (API Gateway answers 500). */
function reply(statusCode: number, body: Record<string, unknown>): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const message = (statusCode: number, text: string) => reply(statusCode, { message: text });

export function createWebhookCaptureHandler(deps: WebhookCaptureDeps): WebhookCaptureHandler {
  const { flow, publisher, dedup, audit, quarantine } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const webhookSources = flow.sources.filter((s): s is WebhookSource => s.type === 'webhook');
  const served = deps.sourceId ? webhookSources.filter((s) => s.id === deps.sourceId) : webhookSources;
  const keyIsRaw = keyUntouchedByTransform(flow);

  return async (event) => {
    const method = event.requestContext?.http?.method ?? 'POST';
    const route = parsePath(event);
    if (!route) return message(404, 'not found: use POST /webhooks/{flowId}/{sourceId}');
    if (route.flowId !== flow.id) return message(404, `unknown flow "${route.flowId}"`);
    let source: WebhookSource | undefined;
    if (route.sourceId === undefined) {
      if (webhookSources.length !== 1) {
        const choices = webhookSources.map((s) => s.id).join(', ') || 'none';
        return message(404, `flow "${flow.id}" has ${webhookSources.length} webhook sources; use /webhooks/${flow.id}/{sourceId} with one of: ${choices}`);
      }
      source = served.find((s) => s.id === webhookSources[0]!.id);
    } else {
      source = served.find((s) => s.id === route.sourceId);
    }
    if (!source) {
      const choices = served.map((s) => s.id).join(', ') || 'none';
      return message(404, `unknown webhook source "${route.sourceId ?? webhookSources[0]?.id}" of flow "${flow.id}" (webhook sources: ${choices})`);
    }
    if (method.toUpperCase() !== 'POST') return message(405, 'use POST');

    const raw = event.body === undefined || event.body === null ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    if (raw.length > source.maxBodyBytes) {
      return message(413, `body is ${raw.length} bytes; the limit of source "${source.id}" is ${source.maxBodyBytes} bytes`);
    }
    const rawBody = raw.toString('utf8');
    const headers = lowerCaseHeaders(event.headers);

    const secretName = deps.webhookSecrets[source.id];
    if (!secretName) throw new Error(`no webhook secret configured for source "${source.id}" of flow "${flow.id}"`);
    const secret = await deps.secrets.get(secretName);
    try {
      new Webhook(secret.startsWith('whsec_') ? secret : `whsec_${secret}`).verify(rawBody, headers, { jsonParse: false });
    } catch (err) {
      if (err instanceof WebhookVerificationError) return message(401, verificationMessage(err.message));
      throw err;
    }
    const webhookId = headers['webhook-id']!;
    logger.setCorrelationId?.(webhookId);

    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch (err) {
      return message(400, `body is not valid JSON: ${(err as Error).message}`);
    }
    const debezium = source.format === 'debezium';
    const shapeProblem = debezium ? checkDebeziumShape(body) : checkShape(body);
    if (shapeProblem) return message(400, shapeProblem);
    const records = (Array.isArray(body) ? body : [body]) as Record<string, unknown>[];

    const scope = `${flow.id}/${source.id}`;
    if (!(await dedup.claim(scope, webhookId, DEDUP_TTL_SECONDS))) {
      logger.info('duplicate webhook', { flow: flow.id, source: source.id, webhookId, records: records.length });
      return reply(202, { accepted: 0, duplicates: records.length, quarantined: 0 });
    }

    try {
      const result: { accepted: number; quarantined: number; skipped?: number } = debezium
        ? await captureDebezium(source, webhookId, body)
        : await capture(source, webhookId, records);
      logger.info('webhook captured', { flow: flow.id, source: source.id, webhookId, ...result });
      metrics.count('Captured', result.accepted);
      metrics.count('Quarantined', result.quarantined);
      // Debezium tombstones and events of unselected tables are not records: logged above, not counted.
      return reply(202, { accepted: result.accepted, duplicates: 0, quarantined: result.quarantined });
    } catch (err) {
      // Let the sender retry: forget the claim so the retry is not taken for a replay.
      await dedup.release?.(scope, webhookId).catch((releaseErr: unknown) =>
        logger.error('could not release webhook claim', { webhookId, error: describeError(releaseErr) }),
      );
      throw err;
    }
  };

  async function capture(source: WebhookSource, webhookId: string, records: Record<string, unknown>[]) {
    const now = clock.now();
    const envelopes: ChangeEnvelope[] = [];
    const quarantined: QuarantineItem[] = [];
    const entries: AuditEntry[] = [];
    records.forEach((record, index) => {
      const id = eventId(flow.id, source.id, webhookId, index);
      const seq = `${webhookId}#${String(index).padStart(3, '0')}`;
      const key = keyIsRaw ? (keyOf(record, flow.key) ?? '') : '';
      const ts = timestampOf(source, record, now);
      const op = source.deleteWhen && matchesPattern(source.deleteWhen, record) ? 'delete' : 'upsert';
      const base = { v: ENVELOPE_VERSION, id, flow: flow.id, source: source.id, key: '', op, seq } as const;
      const problem =
        typeof ts === 'string'
          ? ts
          : Buffer.byteLength(JSON.stringify(record), 'utf8') > MAX_RECORD_BYTES
            ? `record is larger than ${MAX_RECORD_BYTES} bytes, the largest record syncline carries`
            : undefined;
      if (problem !== undefined) {
        quarantined.push({
          flow: flow.id,
          id,
          source: source.id,
          at: now,
          reason: problem,
          errors: [problem],
          record: maskForQuarantine(flow, record),
          envelope: { ...base, ts: now, lineage: [{ step: 'capture', at: now, outcome: 'quarantined' }] },
          position: seq,
        });
        entries.push({ flow: flow.id, key, step: 'capture', at: now, source: source.id, eventId: id, outcome: 'quarantined', reason: problem });
        return;
      }
      envelopes.push({ ...base, ts: ts as number, data: record, lineage: [{ step: 'capture', at: now, outcome: 'captured' }] });
      entries.push({ flow: flow.id, key, step: 'capture', at: now, source: source.id, eventId: id, outcome: 'captured', detail: { op } });
    });
    return commit(envelopes, quarantined, entries);
  }

  /** Debezium change events: op, before/after, ts and seq come from the events, tables from the source's selection. */
  async function captureDebezium(source: WebhookSource, webhookId: string, body: unknown) {
    const now = clock.now();
    const envelopes: ChangeEnvelope[] = [];
    const quarantined: QuarantineItem[] = [];
    const entries: AuditEntry[] = [];
    let skipped = 0;
    for (const item of parseDebeziumBody(body, source.table)) {
      const position = `${webhookId}#${String(item.index).padStart(3, '0')}`;
      if (item.kind === 'skipped') {
        skipped++;
        continue;
      }
      const seq = item.kind === 'change' && item.seq !== undefined ? item.seq : position;
      const identity = item.kind === 'change' ? [item.table, seq, item.operation, canonicalJson(item.data)] : [position];
      const id = eventId(flow.id, source.id, ...identity);
      const op = item.kind === 'change' ? item.op : 'upsert';
      const base = { v: ENVELOPE_VERSION, id, flow: flow.id, source: source.id, key: '', op, seq } as const;
      const record = item.kind === 'change' ? item.data : item.record;
      const problem =
        item.kind === 'malformed'
          ? item.reason
          : Buffer.byteLength(JSON.stringify(item), 'utf8') > MAX_RECORD_BYTES
            ? `change event is larger than ${MAX_RECORD_BYTES} bytes, the largest record syncline carries`
            : undefined;
      const key = record && keyIsRaw ? (keyOf(record, flow.key) ?? '') : '';
      if (problem !== undefined || item.kind !== 'change') {
        const reason = problem ?? 'malformed change event';
        quarantined.push({
          flow: flow.id,
          id,
          source: source.id,
          at: now,
          reason,
          errors: [reason],
          record: maskForQuarantine(flow, record ?? {}),
          envelope: { ...base, ts: now, lineage: [{ step: 'capture', at: now, outcome: 'quarantined' }] },
          position,
        });
        entries.push({ flow: flow.id, key, step: 'capture', at: now, source: source.id, eventId: id, outcome: 'quarantined', reason });
        continue;
      }
      envelopes.push({
        ...base,
        ts: item.ts ?? now,
        data: item.data,
        ...(item.before && item.op === 'upsert' ? { before: item.before } : {}),
        lineage: [{ step: 'capture', at: now, outcome: 'captured' }],
      });
      const detail = { op: item.op, table: item.table, ...(item.operation === 'r' ? { snapshot: true } : {}) };
      entries.push({ flow: flow.id, key, step: 'capture', at: now, source: source.id, eventId: id, outcome: 'captured', detail });
    }
    return { ...(await commit(envelopes, quarantined, entries)), skipped };
  }

  async function commit(envelopes: ChangeEnvelope[], quarantined: QuarantineItem[], entries: AuditEntry[]) {
    if (envelopes.length > 0) {
      const { failed } = await publisher.send(
        deps.transformQueueUrl,
        envelopes.map((e) => ({ id: e.id, body: JSON.stringify(e) })),
      );
      if (failed.length > 0) throw new Error(`${failed.length} of ${envelopes.length} envelopes could not be sent to the transform queue`);
    }
    if (quarantined.length > 0) await quarantine.put(quarantined);
    await audit.write(auditable(flow, entries));
    return { accepted: envelopes.length, quarantined: quarantined.length };
  }
}

/** `/webhooks/{flowId}[/{sourceId}]`, from path parameters or the raw path (any stage prefix). */
function parsePath(event: APIGatewayProxyEventV2): { flowId: string; sourceId?: string } | undefined {
  const params = event.pathParameters;
  if (params?.flowId) return { flowId: params.flowId, sourceId: params.sourceId || undefined };
  const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
  const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  const at = parts.indexOf('webhooks');
  if (at < 0) return undefined;
  const rest = parts.slice(at + 1);
  if (rest.length < 1 || rest.length > 2) return undefined;
  return { flowId: rest[0]!, sourceId: rest[1] };
}

function lowerCaseHeaders(headers: APIGatewayProxyEventV2['headers'] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

function verificationMessage(reason: string): string {
  if (/missing/i.test(reason)) return 'missing webhook signature: webhook-id, webhook-timestamp and webhook-signature headers are required';
  if (/too old|too new/i.test(reason)) return 'webhook-timestamp is more than 5 minutes off';
  if (/invalid signature headers/i.test(reason)) return 'webhook-timestamp is not a number of seconds';
  return 'invalid webhook signature';
}

/** A Debezium body: one event object or an array of them; `null` elements are tombstones, other bad elements are quarantined. */
function checkDebeziumShape(body: unknown): string | undefined {
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

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

/** The source timestamp in ms, capture time when the source has no timestampField, or a reason to quarantine. */
export function timestampOf(source: WebhookSource, record: Record<string, unknown>, now: number): number | string {
  if (!source.timestampField) return now;
  const value = getPath(record, source.timestampField);
  if (value === undefined || value === null || value === '') return `timestampField "${source.timestampField}" is missing`;
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? value : `timestampField "${source.timestampField}" is not a valid epoch ms number`;
  }
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return Number(value);
    const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isFinite(ms)) return ms;
    return `timestampField "${source.timestampField}" is not an ISO-8601 time or epoch ms`;
  }
  return `timestampField "${source.timestampField}" is ${kindOf(value)}, not an ISO-8601 time or epoch ms`;
}


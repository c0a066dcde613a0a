import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { FlowConfig, SourceConfig } from '../config/schema';
import { arrivalSeq, ENVELOPE_VERSION, eventId, type ChangeEnvelope, type TruncateMessage } from '../core/envelope';
import { captureProblem, quarantineOf } from '../core/capture/capture-outcome';
import { carryProblems, jsonDepth, MAX_BODY_DEPTH, settleDeleteNumbers } from '../core/json-safety';
import { captureKeys } from '../core/transform/raw-record';
import { isDelete, recordOf, timestampOf } from '../core/webhook/event-record';
import { SALESFORCE_ACK } from '../core/webhook/salesforce-outbound';
import { bodyHash, verifierFor, type WebhookVerifier } from '../core/webhook/verifiers';
import { readWebhookBody } from '../core/webhook/webhook-body';
import { safeErrorText } from '../core/error-text';
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
  type QuarantineSink,
  type Secrets,
  type Sleep,
  telemetryOf,
  timerSleep,
} from '../ports';
import { captureDebeziumBody } from './debezium-webhook-capture';
import { auditable } from './audit-policy';

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
  /** Replay protection by the sender's delivery id (else the body's hash); with `release`, a request that failed on our side can be retried. */
  readonly dedup: DedupStore & Partial<DedupRelease>;
  readonly audit: AuditLog;
  readonly quarantine: QuarantineSink;
  readonly clock?: Clock;
  /** Waits while another request captures the same delivery (tests pass one that does not wait). */
  readonly sleep?: Sleep;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}

export type WebhookCaptureHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export const DEDUP_TTL_SECONDS = 24 * 3600;
/** How long a claimed delivery id waits for its records to be queued before another request may take it. */
export const DEDUP_PENDING_SECONDS = 60;

/** Waits before each further claim of a delivery another request is capturing (1.5 s in all). */
const PENDING_WAITS_MS = [100, 200, 400, 800];
/** Longest delivery id kept for replay protection (it is part of a DynamoDB key). */
export const MAX_WEBHOOK_ID_BYTES = 512;

/** Our answer to a request: never a 5xx for bad input; infrastructure failures throw instead (API Gateway answers 500). */
function reply(statusCode: number, body: Record<string, unknown>, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

const message = (statusCode: number, text: string) => reply(statusCode, { message: text });

export function createWebhookCaptureHandler(deps: WebhookCaptureDeps): WebhookCaptureHandler {
  const { flow, publisher, dedup, audit, quarantine } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const sleep = deps.sleep ?? timerSleep;
  const webhookSources = flow.sources.filter((s): s is WebhookSource => s.type === 'webhook');
  const served = deps.sourceId ? webhookSources.filter((s) => s.id === deps.sourceId) : webhookSources;
  const keys = captureKeys(flow);
  const verifiers = new Map<string, WebhookVerifier>(served.map((s) => [s.id, verifierFor(s.auth)]));

  return async (event) => {
    const method = event.requestContext?.http?.method ?? 'POST';
    const route = parsePath(event);
    if (!route) return message(404, 'not found: use POST /webhooks/{flowId}/{sourceId}');
    if ('error' in route) return message(400, route.error);
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
    if (method.toUpperCase() !== 'POST') return reply(405, { message: 'use POST' }, { allow: 'POST' });

    const raw = event.body === undefined || event.body === null ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    if (raw.length > source.maxBodyBytes) {
      return message(413, `body is ${raw.length} bytes; the limit of source "${source.id}" is ${source.maxBodyBytes} bytes`);
    }
    const headers = lowerCaseHeaders(event.headers);
    // Decoding would replace such bytes, so neither the signature nor the record would be what was sent.
    if (!isUtf8(raw)) {
      const encoding = headers['content-encoding']?.trim();
      if (encoding && encoding.toLowerCase() !== 'identity') return message(400, `body is sent with Content-Encoding "${encoding}", which webhook sources do not decode: send it uncompressed`);
      return message(400, 'body is not valid UTF-8: webhook bodies are UTF-8 text (JSON, form or XML)');
    }
    const rawBody = raw.toString('utf8');

    const secretName = deps.webhookSecrets[source.id];
    if (!secretName) throw new Error(`no webhook secret configured for source "${source.id}" of flow "${flow.id}"`);
    const secret = await deps.secrets.get(secretName);
    const verifier = verifiers.get(source.id)!;
    const verdict = verifier.verify({ headers, query: event.queryStringParameters ?? {}, rawBody }, secret, clock.now());
    if (!verdict.ok) return message(401, `${verifier.scheme}: ${verdict.reason}; source "${source.id}" expects ${verifier.expects}`);

    const depth = jsonDepth(rawBody);
    if (depth > MAX_BODY_DEPTH) return message(400, `body nests ${depth} levels deep; the limit is ${MAX_BODY_DEPTH}`);
    const read = readWebhookBody(source, rawBody);
    if (read.kind === 'refused') return message(read.status, read.message);
    // Replay protection: the sender's delivery id, else the body's hash within the dedup window.
    const senderId = verdict.deliveryId ?? (read.kind === 'events' ? read.deliveryId : undefined);
    const webhookId = senderId ?? bodyHash(rawBody);
    if (Buffer.byteLength(webhookId, 'utf8') > MAX_WEBHOOK_ID_BYTES) {
      return message(400, `delivery id is ${Buffer.byteLength(webhookId, 'utf8')} bytes; the longest accepted is ${MAX_WEBHOOK_ID_BYTES}`);
    }
    logger.setCorrelationId?.(webhookId);
    const count = read.kind === 'events' ? read.events.length : Array.isArray(read.body) ? read.body.length : 1;
    const answer = (counts: { accepted: number; duplicates: number; quarantined: number; skipped?: number; truncated?: number }) =>
      source.format === 'salesforce-outbound'
        ? { statusCode: 200, headers: { 'content-type': 'text/xml; charset=utf-8' }, body: SALESFORCE_ACK }
        : reply(202, {
            accepted: counts.accepted,
            duplicates: counts.duplicates,
            quarantined: counts.quarantined,
            ...(counts.skipped ? { skipped: counts.skipped } : {}),
            ...(counts.truncated ? { truncated: counts.truncated } : {}),
          });

    const scope = `${flow.id}/${source.id}`;
    let claim = await dedup.claim(scope, webhookId, DEDUP_PENDING_SECONDS);
    // The same delivery sent again while the first is still being captured (a sender that retried on its own timeout,
    // or sent twice at once) waits a little for it: most captures end within that, and the repeat is then a duplicate.
    for (let i = 0; claim === 'pending' && i < PENDING_WAITS_MS.length; i++) {
      await sleep(PENDING_WAITS_MS[i]!);
      claim = await dedup.claim(scope, webhookId, DEDUP_PENDING_SECONDS);
    }
    if (claim === 'duplicate') {
      logger.info('duplicate webhook', { flow: flow.id, source: source.id, webhookId, records: count });
      return answer({ accepted: 0, duplicates: count, quarantined: 0 });
    }
    if (claim === 'pending') {
      logger.info('webhook delivery in progress', { flow: flow.id, source: source.id, webhookId });
      return {
        ...message(409, `delivery ${webhookId} is being captured by another request; retry after ${DEDUP_PENDING_SECONDS} s`),
        headers: { 'content-type': 'application/json', 'retry-after': String(DEDUP_PENDING_SECONDS) },
      };
    }

    try {
      // A delivery's records order by when it first arrived, also when a retry captures them again (see arrivalSeq).
      // Not a body's hash standing in for an id: the same body sent again later is a new change (a record set back).
      const firstAt = senderId !== undefined ? claim.firstAt : clock.now();
      const result = read.kind === 'debezium' ? await captureDebezium(source, webhookId, read.body) : await capture(source, webhookId, read.events, headers, firstAt);
      // Only now is the id a duplicate: a crash before this point leaves a pending claim that expires, and the retry is taken.
      await dedup.confirm(scope, webhookId, DEDUP_TTL_SECONDS).catch((confirmErr: unknown) =>
        logger.error('could not confirm webhook claim; a retry after it expires is captured again (merges ignore the repeat)', { webhookId, error: safeErrorText(confirmErr) }),
      );
      logger.info('webhook captured', { flow: flow.id, source: source.id, webhookId, ...result });
      metrics.count('Captured', result.accepted);
      metrics.count('Quarantined', result.quarantined);
      // Events without a record (GitHub's ping) and Debezium events that are not row changes are counted as skipped;
      // Debezium truncates as truncated, so the counts add up to the events sent.
      return answer({ accepted: result.accepted, duplicates: 0, quarantined: result.quarantined, skipped: result.skipped, truncated: result.truncated });
    } catch (err) {
      // Let the sender retry: forget the claim so the retry is not taken for a replay.
      await dedup.release?.(scope, webhookId).catch((releaseErr: unknown) =>
        logger.error('could not release webhook claim', { webhookId, error: safeErrorText(releaseErr) }),
      );
      throw err;
    }
  };

  async function capture(source: WebhookSource, webhookId: string, events: readonly Record<string, unknown>[], headers: Readonly<Record<string, string>>, firstAt: number) {
    const now = clock.now();
    const envelopes: ChangeEnvelope[] = [];
    const quarantined: QuarantineItem[] = [];
    const entries: AuditEntry[] = [];
    let skipped = 0;
    events.forEach((event, index) => {
      const record = recordOf(source, event);
      if (record === undefined) {
        skipped++;
        return;
      }
      const id = eventId(flow.id, source.id, webhookId, index);
      const position = `${webhookId}#${String(index).padStart(3, '0')}`;
      const key = keys.keyOf(record);
      const op = isDelete(source, event, headers) ? 'delete' : 'upsert';
      const seq = arrivalSeq(op, firstAt, position);
      // Without a timestampField the time is the arrival too: a retry's records keep the first capture's clock.
      const ts = timestampOf(source, event, record, firstAt, op);
      const base = { v: ENVELOPE_VERSION, id, flow: flow.id, source: source.id, key: '', op, seq } as const;
      // A delete needs only its key: it is never refused for a number a double cannot hold (settleDeleteNumbers).
      const unstorable = op === 'upsert' ? carryProblems(record) : [];
      const problem = captureProblem(flow, { first: typeof ts === 'string' ? ts : undefined, unstorable, sized: record, op });
      if (problem !== undefined) {
        const { item, entry } = quarantineOf(flow, { id, source: source.id, at: now, reason: problem, unstorable, record, op, seq, position });
        quarantined.push(item);
        entries.push(entry);
        return;
      }
      envelopes.push({ ...base, ts: ts as number, data: op === 'delete' ? settleDeleteNumbers(record, keys.paths) : record, lineage: [{ step: 'capture', at: now, outcome: 'captured' }] });
      entries.push({ flow: flow.id, key, step: 'capture', at: now, source: source.id, eventId: id, outcome: 'captured', detail: { op } });
    });
    return { ...(await commit(envelopes, quarantined, entries)), skipped, truncated: 0 };
  }

  /** Debezium change events (see debezium-webhook-capture.ts); truncates are audited and counted. */
  async function captureDebezium(source: WebhookSource, webhookId: string, body: unknown) {
    // A bundle for a flow without Debezium sources leaves the Debezium reader out (function-bundling.ts).
    if (typeof __SYNCLINE_READS_DEBEZIUM__ === 'undefined' || __SYNCLINE_READS_DEBEZIUM__) {
      const { envelopes, truncates, quarantined, entries, skipped, truncated } = captureDebeziumBody(flow, source, webhookId, body, clock.now());
      if (truncated > 0) metrics.count('Truncated', truncated);
      if (skipped > 0) metrics.count('Skipped', skipped);
      return { ...(await commit(envelopes, quarantined, entries, truncates)), skipped, truncated };
    }
    throw new Error(`source "${source.id}" reads Debezium events, but this function was bundled without the Debezium reader`);
  }


  async function commit(envelopes: ChangeEnvelope[], quarantined: QuarantineItem[], entries: AuditEntry[], truncates: readonly TruncateMessage[] = []) {
    // Resolve turns a truncate into deletes of the table's keys at its log position: changes after it still win.
    const messages = [...envelopes, ...truncates];
    if (messages.length > 0) {
      const { failed } = await publisher.send(
        deps.transformQueueUrl,
        messages.map((e) => ({ id: e.id, body: JSON.stringify(e) })),
      );
      if (failed.length > 0) throw new Error(`${failed.length} of ${messages.length} messages could not be sent to the transform queue`);
    }
    if (quarantined.length > 0) await quarantine.put(quarantined);
    await audit.write(auditable(flow, entries));
    return { accepted: envelopes.length, quarantined: quarantined.length };
  }
}

/** `/webhooks/{flowId}[/{sourceId}]`, from path parameters or the raw path (any stage prefix). */
function parsePath(event: APIGatewayProxyEventV2): { flowId: string; sourceId?: string } | { error: string } | undefined {
  const params = event.pathParameters;
  if (params?.flowId) return { flowId: params.flowId, sourceId: params.sourceId || undefined };
  const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
  const decoded = path.split('/').filter(Boolean).map(decodeSegment);
  const bad = decoded.findIndex((p) => p === undefined);
  if (bad >= 0) return { error: `path segment "${path.split('/').filter(Boolean)[bad]!.slice(0, 100)}" is not valid percent-encoding` };
  const parts = decoded as string[];
  const at = parts.indexOf('webhooks');
  if (at < 0) return undefined;
  const rest = parts.slice(at + 1);
  if (rest.length < 1 || rest.length > 2) return undefined;
  return { flowId: rest[0]!, sourceId: rest[1] };
}

/** A path segment decoded, or undefined when it is not valid percent-encoding (`%zz`). */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function lowerCaseHeaders(headers: APIGatewayProxyEventV2['headers'] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

/** Whether the bundle holds the Debezium reader (esbuild define); undefined when unbundled. */
declare const __SYNCLINE_READS_DEBEZIUM__: boolean | undefined;

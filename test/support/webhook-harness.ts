import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { flowSchema, type FlowConfig } from '../../functions/config/schema';
import { createWebhookCaptureHandler } from '../../functions/handlers/webhook-capture-handler';
import { FakeClock, FakePublisher, FakeSecrets, InMemoryAuditLog, InMemoryDedupStore, InMemoryQuarantineStore } from '../fixtures/fakes';

export const QUEUE = 'https://sqs.local/hooks-transform';

/** A one-source flow `hooks` whose webhook source `src` takes the given options (auth, format, recordPath...). */
export function hookFlow(source: Record<string, unknown>, key: string[] = ['id']): FlowConfig {
  return flowSchema.parse({
    id: 'hooks',
    key,
    sources: [{ id: 'src', type: 'webhook', ...source }],
    targets: [{ id: 'replica', type: 'dynamodb' }],
  });
}

/** The capture handler of `flow` over in-memory fakes, its secret `hook-secret` set to `secret`. */
export function hookHandler(flow: FlowConfig, secret: string, now = new Date('2026-03-01T12:00:00Z')) {
  const clock = new FakeClock(now.getTime());
  const publisher = new FakePublisher();
  const quarantine = new InMemoryQuarantineStore();
  const dedup = new InMemoryDedupStore(clock);
  const audit = new InMemoryAuditLog();
  const handler = createWebhookCaptureHandler({
    flow,
    secrets: new FakeSecrets({ 'hook-secret': secret }),
    webhookSecrets: { src: 'hook-secret' },
    transformQueueUrl: QUEUE,
    publisher,
    dedup,
    audit,
    quarantine,
    clock,
  });
  return { handler, publisher, quarantine, dedup, audit, clock };
}

export interface HookRequest {
  readonly body: string;
  readonly headers?: Record<string, string>;
  readonly query?: Record<string, string>;
}

/** An API Gateway (HTTP API, payload 2.0) request to `/webhooks/hooks/src`. */
export function hookEvent(r: HookRequest): APIGatewayProxyEventV2 {
  const qs = new URLSearchParams(r.query ?? {}).toString();
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{flowId}/{sourceId}',
    rawPath: '/webhooks/hooks/src',
    rawQueryString: qs,
    headers: { 'content-type': 'application/json', ...r.headers },
    ...(r.query ? { queryStringParameters: r.query } : {}),
    requestContext: { http: { method: 'POST', path: '/webhooks/hooks/src' } },
    body: r.body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

export const jsonOf = (res: { body?: string }) => JSON.parse(res.body ?? '{}') as Record<string, unknown>;

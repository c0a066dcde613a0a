/**
 * The Powertools peer: the same webhook → DynamoDB sync built the way AWS teams usually build it, measured like
 * the e2e bench (same records, webhook senders, local servers, call counter and handler wrapper; measure.ts).
 *
 * - capture (API Gateway → Lambda): verifies the Standard Webhooks signature, sends one SQS message per record
 *   (SendMessageBatch, 10 per call).
 * - consumer (SQS → Lambda, batch size 10, partial batch responses): Powertools BatchProcessor(EventType.SQS) with
 *   processPartialResponse; each record through makeIdempotent (DynamoDBPersistenceLayer, key = messageId), then a
 *   PutItem into the target table unless it holds the same or a newer version, and an audit PutItem.
 *
 * Built from the Powertools for AWS Lambda (TypeScript) docs:
 * - batch processing (BatchProcessor, EventType.SQS, processPartialResponse):
 *   https://docs.aws.amazon.com/powertools/typescript/latest/features/batch/ and https://npmjs.com/package/@aws-lambda-powertools/batch
 * - idempotency (makeIdempotent, DynamoDBPersistenceLayer, eventKeyJmesPath, registerLambdaContext):
 *   https://docs.aws.amazon.com/powertools/typescript/latest/features/idempotency/ and
 *   https://aws.amazon.com/blogs/compute/implementing-idempotent-aws-lambda-functions-with-powertools-for-aws-lambda-typescript/
 */
import { randomBytes } from 'node:crypto';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { createLocalClients, LOCAL_REGION } from '../../lib/local/clients';
import { startHttpServer, type LocalAdminApi, type LocalHttpServer } from '../../lib/local/http-server';
import { startLocalServers } from '../../lib/local/servers';
import { SqsPoller } from '../../lib/local/sqs-poller';
import { CallCounter, measureBurst, countItems, Deliveries, functionStats, timedHandler, type RunResult } from './measure';

export type PeerResult = RunResult;

/** The peer's functions; memory as syncline's webhook capture (512) and DynamoDB deliver (256) functions. */
const CAPTURE = { id: 'capture-webhook', name: 'peer-capture', memoryMb: 512 } as const;
const CONSUMER = { id: 'consumer', name: 'peer-consumer', memoryMb: 256, timeoutSeconds: 30 } as const;
const TABLES = { target: 'peer-contacts', audit: 'peer-audit', idempotency: 'peer-idempotency' } as const;
const FLOW = 'crm-contacts';

/** A CRM contact as the webhook sends it (records.ts). */
type Contact = Record<string, unknown> & { contact_id: string; first_name: string; last_name: string; email_address: string; phone_number: string; updated_at: string };

/** The example flow's transform, as a peer team writes it by hand: drop, rename, mask, derive. */
export function toItem(c: Contact): Record<string, unknown> {
  const { event: _event, internal_notes: _notes, owner_password_hint: _hint, contact_id, first_name, last_name, email_address, phone_number, national_id: _nid, company_name, updated_at, ...rest } = c;
  if (!contact_id || !email_address?.includes('@')) throw new Error(`invalid contact ${contact_id}`);
  return {
    ...rest,
    id: contact_id,
    firstName: first_name,
    lastName: last_name,
    fullName: `${first_name} ${last_name}`.trim(),
    email: email_address,
    emailDomain: email_address.slice(email_address.indexOf('@') + 1).toLowerCase(),
    phone: `***${phone_number.slice(-4)}`,
    nationalId: '[redacted]',
    company: company_name,
    updatedAt: updated_at,
    origin: 'crm',
  };
}

/** API Gateway → Lambda: a signed webhook batch in, one SQS message per record out. */
export function createPeerCaptureHandler(deps: { sqs: SQSClient; queueUrl: string; secret: string }) {
  const webhook = new Webhook(deps.secret);
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    let records: unknown;
    try {
      records = webhook.verify(raw, event.headers as Record<string, string>);
    } catch {
      return { statusCode: 401, body: JSON.stringify({ message: 'invalid signature' }) };
    }
    if (!Array.isArray(records)) return { statusCode: 400, body: JSON.stringify({ message: 'expected a JSON array of records' }) };
    const calls: Promise<{ Failed?: unknown[] }>[] = [];
    for (let i = 0; i < records.length; i += 10) {
      const entries = records.slice(i, i + 10).map((r, j) => ({ Id: String(j), MessageBody: JSON.stringify(r) }));
      calls.push(deps.sqs.send(new SendMessageBatchCommand({ QueueUrl: deps.queueUrl, Entries: entries })));
    }
    const failed = (await Promise.all(calls)).reduce((s, r) => s + (r.Failed?.length ?? 0), 0);
    // The sender retries the whole request; the consumer's version check makes the repeats harmless.
    if (failed > 0) return { statusCode: 500, body: JSON.stringify({ message: `${failed} records not queued` }) };
    return { statusCode: 202, body: JSON.stringify({ accepted: records.length }) };
  };
}

/** SQS → Lambda: each record idempotently (by messageId) to the target table, plus an audit item. */
export function createPeerConsumerHandler(deps: { dynamodb: DynamoDBClient; doc: DynamoDBDocumentClient; tables: typeof TABLES }) {
  const processor = new BatchProcessor(EventType.SQS);
  const persistenceStore = new DynamoDBPersistenceLayer({ tableName: deps.tables.idempotency, awsSdkV3Client: deps.dynamodb });
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'messageId' });

  const processRecord = async (record: SQSRecord): Promise<string> => {
    const contact = JSON.parse(record.body) as Contact;
    const item = toItem(contact);
    const version = Date.parse(contact.updated_at);
    let outcome = 'written';
    try {
      await deps.doc.send(
        new PutCommand({
          TableName: deps.tables.target,
          Item: { ...item, version },
          ConditionExpression: 'attribute_not_exists(id) OR #v < :v',
          ExpressionAttributeNames: { '#v': 'version' },
          ExpressionAttributeValues: { ':v': version },
        }),
      );
    } catch (err) {
      if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
      outcome = 'stale';
    }
    const at = Date.now();
    await deps.doc.send(
      new PutCommand({
        TableName: deps.tables.audit,
        Item: { pk: `${FLOW}#${item.id}`, sk: `${new Date(at).toISOString()}#${record.messageId}`, at, outcome, version, expiresAt: Math.floor(at / 1000) + 90 * 86_400 },
      }),
    );
    return outcome;
  };
  const processIdempotently = makeIdempotent(processRecord, { persistenceStore, config });

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    config.registerLambdaContext(context);
    return processPartialResponse(event, processIdempotently, processor, { context });
  };
}

/** The peer's tables (on-demand) and queue, as its stack would declare them. */
async function createPeerResources(dynamodb: DynamoDBClient, sqs: SQSClient): Promise<{ queueUrl: string; queueArn: string }> {
  const table = (TableName: string, keys: string[]) =>
    dynamodb.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: keys.map((k) => ({ AttributeName: k, AttributeType: 'S' })),
        KeySchema: keys.map((k, i) => ({ AttributeName: k, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
      }),
    );
  await Promise.all([table(TABLES.target, ['id']), table(TABLES.audit, ['pk', 'sk']), table(TABLES.idempotency, ['id'])]);
  // Visibility timeout 6 × the function timeout, as AWS recommends for an SQS event source.
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'peer-records', Attributes: { VisibilityTimeout: String(6 * CONSUMER.timeoutSeconds) } }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { queueUrl: QueueUrl!, queueArn: Attributes!.QueueArn! };
}

export interface PeerOptions {
  readonly records?: number;
  readonly recordsPerRequest?: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** @default 500 */
  readonly warmupRecords?: number;
}

/** Runs the peer on its own DynamoDB Local and fauxqs, as benchE2e runs syncline. */
export async function benchPeer(options: PeerOptions = {}): Promise<PeerResult> {
  const n = options.records ?? 10_000;
  const perRequest = options.recordsPerRequest ?? 100;
  const concurrency = options.concurrency ?? 4;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const counter = new CallCounter();
  const sentAt = new Map<string, number>();
  const deliveries = new Deliveries();
  const warnings: string[] = [];
  const logs: string[] = [];
  const on = () => counter.on;

  const servers = await startLocalServers();
  const clients = createLocalClients({ dynamodb: servers.dynamodb, sqs: servers.sqs, s3: servers.s3 });
  counter.instrument(clients);
  let http: LocalHttpServer | undefined;
  let poller: SqsPoller | undefined;
  try {
    const { queueUrl, queueArn } = await createPeerResources(clients.dynamodb, clients.sqs);
    const secret = `whsec_${randomBytes(24).toString('base64')}`;

    const captureStats = functionStats(CAPTURE.id, CAPTURE.name, CAPTURE.memoryMb);
    const capture = timedHandler(captureStats, on, createPeerCaptureHandler({ sqs: clients.sqs, queueUrl, secret }));
    const consumerStats = functionStats(CONSUMER.id, CONSUMER.name, CONSUMER.memoryMb);
    const consumer = timedHandler(consumerStats, on, createPeerConsumerHandler({ dynamodb: clients.dynamodb, doc: clients.doc, tables: TABLES }));

    // The same API Gateway stand-in as syncline's runtime; the peer has no admin API, so only its route is called.
    http = await startHttpServer({
      port: 0,
      routes: [{ method: 'POST', path: '/webhooks/peer', functionName: CAPTURE.name, maxBodyBytes: 6_000_000, handler: async (event) => capture(event) }],
      admin: {} as LocalAdminApi,
      log: (l) => logs.push(l),
    });
    // The same event source mapping stand-in: ReceiveMessage 10, invoke, DeleteMessageBatch the successes.
    poller = new SqsPoller({
      sqs: clients.sqs,
      name: CONSUMER.name,
      queueUrl,
      queueArn,
      region: LOCAL_REGION,
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      timeoutSeconds: CONSUMER.timeoutSeconds,
      handler: async (event, context) => {
        const response = await consumer(event, context);
        const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
        deliveries.mark(event.Records.filter((r) => !failed.has(r.messageId)).map((r) => (JSON.parse(r.body) as Contact).contact_id));
        return response;
      },
      log: (l) => logs.push(l),
    });
    poller.start();

    const warmup = options.warmupRecords ?? 500;
    const { requests, rejected, sendSeconds, timedOut, firstSend } = await measureBurst({
      url: `${http.url}/webhooks/peer`,
      secret,
      records: n,
      perRequest,
      concurrency,
      warmupRecords: warmup,
      timeoutMs,
      counter,
      deliveries,
      sentAt,
      warnings,
    });    const summary = deliveries.summary('bench-', sentAt, firstSend);

    let idleAtEnd = false;
    for (let i = 0; i < 50 && !idleAtEnd; i++) {
      idleAtEnd = http.inFlight === 0 && (await poller.idle());
      if (!idleAtEnd) await new Promise((r) => setTimeout(r, 100));
    }
    const targetItems = await countItems(clients.doc, TABLES.target);
    for (const l of logs) if (/ error |failed/.test(l) && warnings.length < 10) warnings.push(l.slice(0, 200));
    const roles = new Map<string, string>(Object.entries(TABLES).map(([role, name]) => [name, role]));

    return {
      records: n,
      requests,
      recordsPerRequest: perRequest,
      concurrency,
      rejectedRequests: rejected,
      ...summary,
      timedOut,
      sendSeconds,
      commands: [...counter.stats.values()],
      tables: [...counter.tables].map(([name, t]) => ({ name, role: roles.get(name) ?? name, writeUnits: t.write, readUnits: t.read })),
      functions: [captureStats, consumerStats].filter((f) => f.invocations > 0),
      targetItems,
      warmupRecords: warmup,
      idleAtEnd,
      warnings,
    };
  } finally {
    await http?.stop();
    await poller?.stop();
    clients.destroy();
    await servers.stop();
  }
}

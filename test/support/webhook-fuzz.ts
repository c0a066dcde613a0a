import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { DOCUMENT_TRANSLATE } from '../../functions/adapters/clients';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { DynamoDbDedupStore } from '../../functions/adapters/dynamodb-dedup-store';
import { DynamoDbQuarantineStore } from '../../functions/adapters/dynamodb-quarantine-store';
import { SqsPublisher } from '../../functions/adapters/sqs-publisher';
import { createWebhookCaptureHandler } from '../../functions/handlers/webhook-capture-handler';
import { flowSchema } from '../../functions/config/schema';
import { FakeSecrets } from '../fixtures/fakes';

/**
 * A fuzz of the webhook capture function: random bodies (odd numbers, any Unicode, empty and odd field names, deep
 * nesting, non-JSON), headers and paths against the handler wired to the real adapters, on AWS stand-ins that
 * refuse what the services refuse. Shared by the unit test (a few thousand cases) and `npm run fuzz` (10,000+).
 */

export const FUZZ_SECRET = `whsec_${Buffer.from('syncline-fuzz-webhook-secret-0001').toString('base64')}`;
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/fuzz-transform';

/** The fuzzed flow, as it appears in a config file. */
export const fuzzFlowInput = {
  id: 'fuzz',
  key: ['id'],
  sources: [
    { id: 'app', type: 'webhook', timestampField: 'ts', deleteWhen: { deleted: [true] } },
    { id: 'cdc', type: 'webhook', format: 'debezium' },
  ],
  transform: { mask: { email: 'email' } },
  conflict: { strategy: 'lww' },
  targets: [{ id: 'replica', type: 'dynamodb' }],
};
const flow = flowSchema.parse(fuzzFlowInput);

/** Characters a SendMessage body may hold: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html */
const SQS_BODY = /^[\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]*$/u;

/**
 * DynamoDB's item rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-attributes): attribute
 * names of at least one character, nesting up to 32 levels, numbers of up to 38 digits between 1e-130 and 1e126, a
 * partition key of up to 2048 bytes. The marshaller itself refuses numbers beyond 2^53 and non-finite ones.
 */
function refusal(item: Record<string, unknown>): string | undefined {
  try {
    marshall(item, DOCUMENT_TRANSLATE.marshallOptions);
  } catch (err) {
    return (err as Error).message;
  }
  if (Buffer.byteLength(String(item.pk ?? '')) > 2048) return 'Size of hashkey has exceeded the maximum size limit of 2048 bytes';
  const walk = (v: unknown, depth: number): string | undefined => {
    if (typeof v === 'number' && v !== 0 && (Math.abs(v) < 1e-130 || Math.abs(v) >= 1e126)) return 'Number overflow';
    if (v === null || typeof v !== 'object') return undefined;
    if (depth > 32) return 'Nesting Levels have exceeded supported limits';
    for (const [k, x] of Object.entries(v)) {
      if (k === '') return 'Empty attribute name';
      const r = walk(x, depth + 1);
      if (r) return r;
    }
    return undefined;
  };
  return walk(item, 0);
}

const validation = (message: string) => Object.assign(new Error(message), { name: 'ValidationException', $fault: 'client', $metadata: { httpStatusCode: 400 } });

export interface FuzzReport {
  readonly runs: number;
  readonly byStatus: Record<string, number>;
  readonly fiveXx: number;
  readonly hangs: number;
  /** The first few requests answered 5xx (or that threw), for the failure message. */
  readonly examples: string[];
}

/** Builds the handler on mocked clients that behave like SQS and DynamoDB for the inputs above. */
export function fuzzHandler() {
  const ddb = mockClient(DynamoDBDocumentClient);
  const sqs = mockClient(SQSClient);
  ddb.on(PutCommand).callsFake((input: { Item: Record<string, unknown> }) => {
    const why = refusal(input.Item);
    if (why) throw validation(why);
    return {};
  });
  ddb.on(DeleteCommand).resolves({});
  // Dedup claims, confirms and releases.
  ddb.on(UpdateCommand).resolves({});
  ddb.on(BatchWriteCommand).callsFake((input: { RequestItems: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> }) => {
    for (const r of Object.values(input.RequestItems).flat()) {
      const why = refusal(r.PutRequest.Item);
      if (why) throw validation(why);
    }
    for (const r of Object.values(input.RequestItems).flat()) stored.push(r.PutRequest.Item);
    return { UnprocessedItems: {} };
  });
  const sent: string[] = [];
  const stored: Record<string, unknown>[] = [];
  sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string; MessageBody: string }[] }) => (sent.push(...input.Entries.filter((e) => SQS_BODY.test(e.MessageBody)).map((e) => e.MessageBody)), {
    Successful: input.Entries.filter((e) => SQS_BODY.test(e.MessageBody)).map((e) => ({ Id: e.Id, MessageId: e.Id, MD5OfMessageBody: '' })),
    Failed: input.Entries.filter((e) => !SQS_BODY.test(e.MessageBody)).map((e) => ({ Id: e.Id, SenderFault: true, Code: 'InvalidMessageContents' })),
  }));
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }), DOCUMENT_TRANSLATE);
  const noWait = { sleep: async () => {}, baseDelayMs: 1 };
  const handler = createWebhookCaptureHandler({
    flow,
    secrets: new FakeSecrets({ 'secret/fuzz': FUZZ_SECRET }),
    webhookSecrets: { app: 'secret/fuzz', cdc: 'secret/fuzz' },
    transformQueueUrl: QUEUE,
    publisher: new SqsPublisher({ client: new SQSClient({ region: 'us-east-1' }), retry: noWait }),
    dedup: new DynamoDbDedupStore({ client: doc, tableName: 'dedup' }),
    audit: new DynamoDbAuditLog({ client: doc, tableName: 'audit', retry: noWait }),
    quarantine: new DynamoDbQuarantineStore({ client: doc, tableName: 'quarantine', retry: noWait }),
  });
  return { handler, sent, stored, restore: () => (ddb.restore(), sqs.restore()) };
}

const oddNumbers = ['12345678901234567890', '-98765432109876543210', '1e309', '-1e309', '5e-324', '1e-400', '0.12345678901234567890123', '9007199254740993', '1.5e300', '1e-200', '1E400', '-0', '0.0', '1e2'];
const oddStrings = ['\uFFFE', '\uFFFF', '😀', '\ud800', '\udfff', '\u0000', '\u2028', 'é', '𝄞', '\u202e', ''];
const oddNames = ['', ' ', '.', '..', '__proto__', 'constructor', 'a.b', '$', '\uFFFE', '😀', 'id'];

const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(...oddStrings));
const leaf = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom(...oddNumbers).map((n) => ({ raw: n })));
const name = fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom(...oddNames));
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(name, tie('v'), { maxKeys: 3 })),
})).v;
const record = fc.record(
  { id: fc.oneof(text, fc.integer(), fc.constantFrom(...oddNumbers).map((n) => ({ raw: n })), fc.constant('x'.repeat(2101))), ts: fc.oneof(fc.integer(), text, fc.constant('2026-01-15T10:00:00Z')), deleted: fc.boolean(), rest: fc.dictionary(name, value, { maxKeys: 4 }) },
  { requiredKeys: [] },
).map(({ rest, ...r }) => ({ ...(rest as Record<string, unknown>), ...r }));

/** JSON text with `{raw: "<number text>"}` written as that raw number token. */
function serialize(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && 'raw' in x && Object.keys(x).length === 1 ? `\u0000RAW${(x as { raw: string }).raw}\u0000` : x)).replace(
    /"\\u0000RAW([^"\\]*)\\u0000"/g,
    '$1',
  );
}

const nested = fc.integer({ min: 1, max: 6000 }).map((n) => `{"id":"deep","x":${'['.repeat(n)}1${']'.repeat(n)}}`);
const debezium = fc.record({ after: record, op: fc.constantFrom('c', 'u', 'd', 'r', 'x'), ts_ms: fc.integer(), source: fc.record({ ts_ns: fc.constantFrom('1768471200000000001', '1.5e18').map((raw) => ({ raw })), table: text }) });
const body = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(record, fc.array(record, { maxLength: 6 })).map(serialize) },
  { weight: 1, arbitrary: fc.oneof(debezium, fc.array(debezium, { maxLength: 3 })).map(serialize) },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), value.map(serialize), fc.constantFrom('', 'null', '[]', '{}', '[1]', '"x"', '{"a":1,"a":2}', '{"__proto__":{"id":"p"},"id":"q"}')) },
);
const segment = fc.oneof(fc.constantFrom('webhooks', 'fuzz', 'app', 'cdc', '%zz', '%', '%E0%A4%A', '..', '.', '', '%2F', '😀'), fc.string({ unit: 'binary', maxLength: 6 }).map(encodeURIComponent));
const path = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/webhooks/fuzz/app', '/webhooks/fuzz/cdc') },
  { weight: 1, arbitrary: fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`) },
  { weight: 1, arbitrary: fc.constantFrom('//%zz', '/webhooks/%zz', '/webhooks/fuzz/%zz', '/webhooks//app', '/webhooks/fuzz') },
);
const signing = fc.oneof(
  { weight: 6, arbitrary: fc.constant('good' as const) },
  { weight: 1, arbitrary: fc.constantFrom('none' as const, 'wrong' as const, 'stale' as const, 'garbage' as const) },
);
export const fuzzRequest = fc.record({ body, path, signing, base64: fc.boolean(), id: fc.oneof(fc.uuid(), fc.string({ unit: 'binary', maxLength: 20 }), fc.constant('i'.repeat(3000))), junk: fc.string({ unit: 'binary', maxLength: 30 }) });

export type FuzzRequest = typeof fuzzRequest extends fc.Arbitrary<infer T> ? T : never;

export function event(r: FuzzRequest): APIGatewayProxyEventV2 {
  const at = r.signing === 'stale' ? new Date(Date.now() - 3_600_000) : new Date();
  let headers: Record<string, string> = {};
  if (r.signing !== 'none') {
    const signature = r.signing === 'garbage' ? r.junk : new Webhook(r.signing === 'wrong' ? `whsec_${Buffer.from('another-secret-0000000000000').toString('base64')}` : FUZZ_SECRET).sign(r.id, at, r.body);
    headers = { 'webhook-id': r.id, 'webhook-timestamp': r.signing === 'garbage' ? r.junk : String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
  }
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: r.path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: { http: { method: 'POST', path: r.path } },
    body: r.base64 ? Buffer.from(r.body).toString('base64') : r.body,
    isBase64Encoded: r.base64,
  } as unknown as APIGatewayProxyEventV2;
}

/** Runs `runs` random requests (fixed seed when given) and reports answers by status, 5xx and hangs. */
export async function fuzzWebhook(runs: number, seed?: number, hangMs = 5_000): Promise<FuzzReport> {
  const { handler, restore } = fuzzHandler();
  const byStatus: Record<string, number> = {};
  const examples: string[] = [];
  let fiveXx = 0;
  let hangs = 0;
  try {
    const samples = fc.sample(fuzzRequest, seed === undefined ? runs : { numRuns: runs, seed });
    for (const r of samples) {
      let status: string;
      let timer: NodeJS.Timeout | undefined;
      try {
        const hang = new Promise<'hang'>((resolve) => {
          timer = setTimeout(() => resolve('hang'), hangMs);
        });
        const res = await Promise.race([handler(event(r)), hang]);
        status = res === 'hang' ? 'hang' : String(res.statusCode);
      } catch (err) {
        status = `threw ${(err as Error).name}`;
      } finally {
        clearTimeout(timer);
      }
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (status === 'hang') hangs++;
      else if (!/^[1-4]\d\d$/.test(status)) {
        fiveXx++;
        if (examples.length < 5) examples.push(`${status}: ${r.path} ${r.signing} ${JSON.stringify(r.body.slice(0, 300))}`);
      }
    }
  } finally {
    restore();
  }
  return { runs, byStatus, fiveXx, hangs, examples };
}

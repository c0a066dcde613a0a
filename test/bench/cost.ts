/** USD per million synced records from the counts of an end-to-end run, at public on-demand list prices. */
import type { RunResult } from './measure';

/** US East (N. Virginia) on-demand list prices, USD, from ../shared/PRICES.md. */
export const PRICES = {
  checked: '2026-11',
  region: 'us-east-1',
  /** Per million units. */
  dynamoDbWru: 0.625,
  dynamoDbRru: 0.125,
  sqsRequest: 0.4,
  lambdaRequest: 0.2,
  /** Per GB-second. */
  lambdaArmGbSecond: 0.0000133334,
  apiGatewayHttpRequest: 1.0,
  s3Put: 5.0,
  s3Get: 0.4,
  /** What users would pay instead, per million records. */
  airbytePerMillionRows: 15,
  pipesPerMillionRequests: 0.4,
} as const;

export interface CostLine {
  readonly service: string;
  readonly unit: string;
  readonly perRecord: number;
  /** USD per million units (GB-second: per GB-second). */
  readonly price: number;
  readonly priceText: string;
  readonly usdPerMillionRecords: number;
}

export interface Counts {
  readonly records: number;
  readonly apiRequests: number;
  readonly lambdaInvocations: number;
  readonly lambdaGbSeconds: number;
  readonly sqsBilledRequests: number;
  readonly sqsEmptyReceives: number;
  readonly wruMeasured: number;
  readonly wruEstimated: number;
  readonly rruMeasured: number;
  readonly dynamoMeasuredCalls: number;
  readonly dynamoCalls: number;
  readonly s3Puts: number;
  readonly s3Gets: number;
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

/** The counts of a run (syncline's or the peer's); capture functions are those whose id starts with `capture-`. */
export function countsOf(e2e: Pick<RunResult, 'delivered' | 'commands' | 'functions'>): Counts {
  const sum = (f: (c: RunResult['commands'][number]) => number) => e2e.commands.reduce((s, c) => s + f(c), 0);
  const dynamo = (set: Set<string>) => (c: RunResult['commands'][number]) => c.client === 'DynamoDB' && set.has(c.command);
  return {
    records: e2e.delivered,
    apiRequests: e2e.functions.filter((f) => f.id.startsWith('capture-')).reduce((s, f) => s + f.invocations, 0),
    lambdaInvocations: e2e.functions.reduce((s, f) => s + f.invocations, 0),
    lambdaGbSeconds: e2e.functions.reduce((s, f) => s + f.gbSeconds, 0),
    sqsBilledRequests: sum((c) => (c.client === 'SQS' ? c.billedRequests : 0)),
    sqsEmptyReceives: sum((c) => (c.client === 'SQS' ? c.empty : 0)),
    wruMeasured: sum((c) => (dynamo(WRITES)(c) ? c.measuredUnits : 0)),
    wruEstimated: sum((c) => (dynamo(WRITES)(c) ? c.estimatedWru : 0)),
    rruMeasured: sum((c) => (dynamo(READS)(c) ? c.measuredUnits : 0)),
    dynamoMeasuredCalls: sum((c) => (c.client === 'DynamoDB' ? c.measuredCalls : 0)),
    dynamoCalls: sum((c) => (dynamo(WRITES)(c) || dynamo(READS)(c) ? c.calls - c.errors : 0)),
    s3Puts: sum((c) => (c.client === 'S3' && /^(Put|Copy|Post|List|CreateMultipart|UploadPart|CompleteMultipart)/.test(c.command) ? c.calls : 0)),
    s3Gets: sum((c) => (c.client === 'S3' && /^Get/.test(c.command) ? c.calls : 0)),
  };
}

/** Cost lines per service; `wru` picks the measured or the estimated write units. */
export function costLines(c: Counts): CostLine[] {
  const per = (x: number) => x / c.records;
  const useMeasured = c.dynamoMeasuredCalls > 0 && c.dynamoMeasuredCalls === c.dynamoCalls;
  const wru = useMeasured ? c.wruMeasured : c.wruEstimated;
  const line = (service: string, unit: string, count: number, price: number, priceText = `${price} per million`): CostLine => ({
    service,
    unit,
    perRecord: per(count),
    price,
    priceText,
    usdPerMillionRecords: per(count) * price,
  });
  const lines = [
    line('API Gateway HTTP API', 'request (one per webhook)', c.apiRequests, PRICES.apiGatewayHttpRequest),
    line('Lambda', 'request (invocation)', c.lambdaInvocations, PRICES.lambdaRequest),
    { ...line('Lambda arm64', 'GB-second (local durations)', c.lambdaGbSeconds, PRICES.lambdaArmGbSecond * 1e6), priceText: `${PRICES.lambdaArmGbSecond} per GB-s` },
    line('SQS standard', 'request (64 KB chunks)', c.sqsBilledRequests, PRICES.sqsRequest),
    line('DynamoDB on-demand', `write request unit (${useMeasured ? 'measured' : 'estimated'})`, wru, PRICES.dynamoDbWru),
    line('DynamoDB on-demand', 'read request unit (measured)', c.rruMeasured, PRICES.dynamoDbRru),
  ];
  if (c.s3Puts + c.s3Gets > 0) lines.push(line('S3 Standard', 'PUT/LIST request', c.s3Puts, PRICES.s3Put), line('S3 Standard', 'GET request', c.s3Gets, PRICES.s3Get));
  return lines;
}

import { errorNameOf, safeErrorText } from '../core/error-text';
import { DescribeTableCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvalidCursorError, type ScanPage, type ScanPageRequest, type TableScanner } from '../ports';
import { unmarshallImage } from './dynamodb-images';
import { messageOf } from '../core/errors';
import { base64, issueLines, literal, number, object, record, refine, safeParse, string, union, type Infer } from '../core/shape';

export interface DynamoDbTableScannerOptions {
  readonly client: DynamoDBClient;
  /** The table's name, or its ARN (a table of another account is read by ARN). */
  readonly tableName: string;
}

/** Longest cursor accepted: a key is at most 2 KB of partition and 1 KB of sort key, base64 and JSON around it. */
const MAX_CURSOR_LENGTH = 8192;

/** A key attribute as a cursor holds it: S, N, or B as base64 (key attributes have no other type). */
const keyValue = union(
  object({ S: string() }, 'strict'),
  object({ N: string({ pattern: /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i, patternMessage: 'not a number' }) }, 'strict'),
  object({ B: base64() }, 'strict'),
);

const cursorSchema = object(
  {
    v: literal(1),
    segment: number({ int: true, min: 0 }),
    totalSegments: number({ int: true, gt: 0 }),
    key: refine(record(keyValue, string({ min: 1 })), (k) => Object.keys(k).length >= 1 && Object.keys(k).length <= 2, 'must hold the table key (1 or 2 attributes)'),
  },
  'strict',
);

type Cursor = Infer<typeof cursorSchema>;

/**
 * TableScanner on a parallel Scan (Segment/TotalSegments, ConsistentRead). The cursor is base64url JSON of the
 * segment and its LastEvaluatedKey, so a cursor given for another segment or table is refused, not misread.
 * Items are unmarshalled as the stream capture unmarshalls images; one that cannot be is reported with its reason.
 */
export class DynamoDbTableScanner implements TableScanner {
  readonly tableName: string;
  private readonly client: DynamoDBClient;

  constructor(options: DynamoDbTableScannerOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
  }

  async scanPage(request: ScanPageRequest): Promise<ScanPage> {
    const start = request.cursor === undefined ? undefined : decodeCursor(request.cursor, request);
    let out;
    try {
      out = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          Segment: request.segment,
          TotalSegments: request.totalSegments,
          ConsistentRead: true,
          ...(request.limit !== undefined ? { Limit: request.limit } : {}),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
    } catch (err) {
      // DynamoDB checks the start key against the table's key schema: a cursor of another table fails here.
      if (start && errorNameOf(err) === 'ValidationException') throw new InvalidCursorError(`cursor does not fit table ${this.tableName}: ${messageOf(err)}`);
      throw err;
    }
    const items = (out.Items ?? []).map((raw) => {
      try {
        return { record: unmarshallImage(raw as Record<string, unknown>) };
      } catch (err) {
        return { error: `item cannot be unmarshalled: ${safeErrorText(err)}` };
      }
    });
    const next = out.LastEvaluatedKey;
    return { items, ...(next ? { cursor: encodeCursor({ v: 1, segment: request.segment, totalSegments: request.totalSegments, key: toCursorKey(next) }) } : {}) };
  }

  async approximateItemCount(): Promise<number | undefined> {
    const out = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
    return out.Table?.ItemCount;
  }
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

function decodeCursor(text: string, request: ScanPageRequest): Record<string, AttributeValue> {
  const refuse = (why: string) =>
    new InvalidCursorError(`invalid cursor: ${why}; pass the cursor of the previous answer for segment ${request.segment} of ${request.totalSegments}, or none to start the segment over`);
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH) throw refuse(`its length must be 1 to ${MAX_CURSOR_LENGTH} characters`);
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw refuse('it is not base64url');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw refuse('it does not decode to JSON');
  }
  const parsed = safeParse(cursorSchema, json);
  if (!parsed.success) throw refuse(issueLines(parsed.issues).join('; '));
  const { segment, totalSegments, key } = parsed.data;
  if (segment !== request.segment || totalSegments !== request.totalSegments) {
    throw refuse(`it belongs to segment ${segment} of ${totalSegments}`);
  }
  return Object.fromEntries(Object.entries(key).map(([name, v]) => [name, 'B' in v ? { B: Buffer.from(v.B, 'base64') } : v])) as Record<string, AttributeValue>;
}

function toCursorKey(key: Record<string, AttributeValue>): Cursor['key'] {
  return Object.fromEntries(
    Object.entries(key).map(([name, v]) => {
      if (v.S !== undefined) return [name, { S: v.S }];
      if (v.N !== undefined) return [name, { N: v.N }];
      if (v.B !== undefined) return [name, { B: Buffer.from(v.B).toString('base64') }];
      throw new Error(`scan of ${name}: LastEvaluatedKey attribute is not S, N or B`);
    }),
  );
}

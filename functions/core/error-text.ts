/**
 * Error texts safe to log, audit and quarantine: an SDK or marshalling message may quote the record's values
 * (`Number 12345678901234567890 is greater than ...`, `cannot be converted to a numeric value: abc`), so only the
 * error's name and, for the refusals we know, a fixed phrase naming the kind of problem are kept.
 */
const KNOWN_REFUSALS: readonly [RegExp, string, 'content'?][] = [
  [/Size of hashkey has exceeded/i, 'partition key over 2048 bytes'],
  [/Size of rangekey has exceeded/i, 'sort key over 1024 bytes'],
  [/Hash primary key values must be under 2048 bytes/i, 'partition key over 2048 bytes'],
  [/Range primary key values must be under 1024 bytes/i, 'sort key over 1024 bytes'],
  [/Item size (has exceeded|to update has exceeded)/i, 'item over 400 KB', 'content'],
  // An index key over its limit (a key attribute that an index sorts on, 1024 bytes).
  [/Size limit exceeded/i, 'key over a DynamoDB size limit'],
  [/Nesting Levels have exceeded/i, 'nesting deeper than 32 levels', 'content'],
  [/Number overflow/i, 'number beyond the range DynamoDB stores', 'content'],
  [/Number underflow/i, 'number too close to zero for DynamoDB', 'content'],
  [/Attempting to store a number with magnitude/i, 'number beyond the range DynamoDB stores', 'content'],
  [/precision/i, 'number with more than 38 significant digits', 'content'],
  [/empty (attribute|string|key)|attribute name .*empty|Empty attribute name/i, 'empty attribute name or key', 'content'],
  // A value of the wrong type for an index key is the item's; for the table's key, the configuration's (keyAttribute).
  [/Type mismatch for Index Key/i, 'key attribute of the wrong type', 'content'],
  [/Type mismatch for Key/i, 'key attribute of the wrong type'],
  [/^Special numeric value/, 'NaN or Infinity'],
  [/^Number .* than Number\.(MAX|MIN)_SAFE_INTEGER/, 'number beyond 2^53'],
  [/^Unsupported (type|value) passed/, 'value of a type DynamoDB cannot store'],
  [/Maximum call stack/i, 'nesting too deep'],
];

/** Marshalling refusals of `@aws-sdk/util-dynamodb` (thrown before any request): the item, not the call, is at fault. */
const MARSHALL_REFUSAL = /^(Special numeric value|Number .* than Number\.(MAX|MIN)_SAFE_INTEGER|Unsupported (type|value) passed|Pass options\.)/;

/** An error's `name` (an SDK exception's, e.g. `ConditionalCheckFailedException`), else its `code`, else its type. */
export function errorNameOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; code?: unknown };
    if (typeof e.name === 'string' && e.name !== '') return e.name;
    if (typeof e.code === 'string') return e.code;
  }
  return typeof err === 'string' ? 'Error' : typeof err;
}

/** `Name` or `Name (known problem)`, never the error's own message. */
export function safeErrorText(err: unknown): string {
  const name = errorNameOf(err);
  const text = err instanceof Error ? err.message : '';
  const known = KNOWN_REFUSALS.find(([re]) => re.test(text));
  return known ? `${name} (${known[1]})` : name;
}

/**
 * Whether DynamoDB (or the marshaller before it) refused an item for what the item itself holds, so no retry and no
 * change of configuration can make it go in (a delivery parks such a record at once).
 */
export function isRefusedContent(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  // DynamoDB's refusals marked `content` in KNOWN_REFUSALS; not a missing key or a key schema mismatch, which follow
  // from the configuration and hit every item alike.
  if (errorNameOf(err) === 'ValidationException') return err instanceof Error && KNOWN_REFUSALS.some(([re, , kind]) => kind === 'content' && re.test(err.message));
  return isRefusedItem(err);
}

/**
 * Whether DynamoDB (or the marshaller before it) refused an item for what it holds: retrying cannot help, and a
 * batch holding it should be split so the other items go in.
 */
export function isRefusedItem(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  if (errorNameOf(err) === 'ValidationException') return true;
  if (err instanceof RangeError) return true;
  const e = err as { $metadata?: unknown; message?: unknown };
  return e.$metadata === undefined && typeof e.message === 'string' && MARSHALL_REFUSAL.test(e.message);
}

/** Quoted characters of JSON's own grammar that a parse error names as expected (`',' or '}'`): not the input's. */
const JSON_GRAMMAR = /^(?:[{}[\]:,"]|\\")$/;

/**
 * A JSON parse error without the input it quotes: V8 quotes the text around the error, lossless-json the character
 * found there, either of which may be a record's raw value. The problem and its position are kept.
 */
export function jsonErrorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const at = / at position (\d+)/.exec(text)?.[1];
  const problem = text
    // V8: `Unexpected token 'Z', "…excerpt…" is not valid JSON` (no position); `… in JSON at position N (line L column C)`.
    .replace(/^Unexpected token [\s\S]*$/, 'Unexpected token')
    .replace(/( in JSON)? at position \d+[\s\S]*$/, '')
    .replace(/ ?'('|(?:[^'\\]|\\.)*)'/g, (quoted, inner: string) => (JSON_GRAMMAR.test(inner) ? quoted : ''))
    .replace(/ but got$/, ' but got another character')
    .replace(/\s+/g, ' ')
    .trim();
  return at === undefined ? problem : `${problem} at position ${at}`;
}

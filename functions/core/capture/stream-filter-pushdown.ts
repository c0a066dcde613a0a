/**
 * Translates a `dynamodb-stream` source's `filter` (an event pattern over the unmarshalled item) into Lambda
 * event-source-mapping filter patterns over the stream record (`dynamodb.NewImage.<f>.S|SS|L|BOOL|N|NULL`), pure.
 *
 * The rule is safety, not completeness: the pushed-down filters must let through every record the handler's
 * filter keeps (the handler applies the full pattern again), so a field is pushed down only when all of its
 * matchers have an exact typed equivalent, and any other part of the pattern is simply left out (a relaxation).
 * REMOVE records always pass: they have no NewImage, and the handler filters them on OldImage.
 */

/** Lambda's default quota of filters per event source mapping (the filters are ORed). */
export const MAX_FILTERS = 5;
/** Longest filter pattern Lambda takes (https://docs.aws.amazon.com/lambda/latest/api/API_Filter.html). */
export const MAX_PATTERN_CHARS = 4096;

export interface PushdownResult {
  /** Filter patterns for `FilterCriteria.filter(...)`, ORed by Lambda; empty when nothing could be pushed down. */
  readonly filters: readonly Record<string, unknown>[];
  /** Top-level fields whose matchers are pushed down. */
  readonly pushed: readonly string[];
  /** Parts of the pattern left to the handler only, and why. */
  readonly handlerOnly: readonly { readonly path: string; readonly reason: string }[];
}

/** Alternatives for one field: each is the typed DynamoDB-JSON pattern of one attribute shape. */
type Alternatives = Record<string, unknown>[];

export function pushdownFilter(pattern: Record<string, unknown> | undefined, maxFilters = MAX_FILTERS): PushdownResult {
  if (!pattern) return { filters: [], pushed: [], handlerOnly: [] };
  const handlerOnly: { path: string; reason: string }[] = [];
  const fields: [string, Alternatives][] = [];
  for (const [field, value] of Object.entries(pattern)) {
    if (field === '$or') {
      handlerOnly.push({ path: field, reason: '$or is not part of the filter syntax Lambda documents' });
      continue;
    }
    if (!Array.isArray(value)) {
      handlerOnly.push({ path: field, reason: 'nested map patterns are not pushed down' });
      continue;
    }
    const alternatives = fieldAlternatives(value);
    if (typeof alternatives === 'string') handlerOnly.push({ path: field, reason: alternatives });
    else fields.push([field, alternatives]);
  }

  // One filter per combination of alternatives, plus one that lets REMOVE records through.
  const budget = maxFilters - 1;
  const pushed: string[] = [];
  let images: Record<string, unknown>[] = [{}];
  for (const [field, alternatives] of fields) {
    if (images.length * alternatives.length > budget) {
      handlerOnly.push({ path: field, reason: `pushing it down too would need more than ${maxFilters} filters` });
      continue;
    }
    const next = images.flatMap((image) => alternatives.map((alt) => ({ ...image, [field]: alt })));
    if (next.some((NewImage) => JSON.stringify({ dynamodb: { NewImage } }).length > MAX_PATTERN_CHARS)) {
      handlerOnly.push({ path: field, reason: `its filter pattern would be longer than the ${MAX_PATTERN_CHARS} characters Lambda takes` });
      continue;
    }
    images = next;
    pushed.push(field);
  }
  if (pushed.length === 0) return { filters: [], pushed, handlerOnly };
  const filters = [...images.map((NewImage) => ({ dynamodb: { NewImage } })), { eventName: ['REMOVE'] }];
  return { filters, pushed, handlerOnly };
}

/** The typed alternatives of one field's matchers, or why they cannot be pushed down exactly. */
function fieldAlternatives(matchers: readonly unknown[]): Alternatives | string {
  const strings: unknown[] = [];
  const numbers: string[] = [];
  const booleans: boolean[] = [];
  let hasNull = false;
  for (const m of matchers) {
    if (typeof m === 'string') strings.push(m);
    else if (typeof m === 'boolean') booleans.push(m);
    else if (m === null) hasNull = true;
    else if (typeof m === 'number') {
      // N values are strings in stream records; DynamoDB stores integers canonically ("42"), so equality on the
      // string is exact for safe integers. Decimals may be written in several ways and are left to the handler.
      if (!Number.isSafeInteger(m)) return `number ${m} is not an integer: N values are compared as strings`;
      numbers.push(String(m));
    } else if (isStringOperator(m)) strings.push(m);
    else return `matcher ${JSON.stringify(m)} has no exact equivalent on typed stream values`;
  }
  // A string attribute may be S, a string set (SS) or a list of strings (L); the handler sees all three as strings.
  const alternatives: Alternatives = [];
  if (strings.length) alternatives.push({ S: strings }, { SS: strings }, { L: { S: strings } });
  if (numbers.length) alternatives.push({ N: numbers }, { NS: numbers }, { L: { N: numbers } });
  if (booleans.length) alternatives.push({ BOOL: booleans }, { L: { BOOL: booleans } });
  if (hasNull) alternatives.push({ NULL: [true] }, { L: { NULL: [true] } });
  return alternatives;
}

/** `prefix`, `suffix` and `equals-ignore-case` with a plain string argument: Lambda supports them on S values. */
function isStringOperator(m: unknown): boolean {
  if (!m || typeof m !== 'object' || Array.isArray(m)) return false;
  const keys = Object.keys(m);
  if (keys.length !== 1) return false;
  const [op] = keys as [string];
  return ['prefix', 'suffix', 'equals-ignore-case'].includes(op) && typeof (m as Record<string, unknown>)[op] === 'string';
}

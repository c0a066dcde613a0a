import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { parse, type CsvError } from 'csv-parse';
import type { PulledItem, PulledPage, PullReader, PullReadOptions } from '../ports';
import { jsonErrorText } from '../core/error-text';
import { parseJsonPulled } from '../core/json-safety';
import { httpStatusOf } from './retry';
import { importS3 } from './sdk-imports';

export interface S3ObjectReaderOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** @default '' (the whole bucket) */
  readonly prefix?: string;
  readonly format: 'jsonl' | 'csv';
  /** Records per page (one checkpoint each). @default 1000 */
  readonly pageSize?: number;
}

/** Where a pull resumes: inside `key` after `n` units (JSONL lines or CSV records), or after `after`. */
type S3Continuation = { readonly key: string; readonly n: number } | { readonly after: string };

/**
 * PullReader over the objects under a prefix (ListObjectsV2, in key order) in JSONL or CSV. Bodies are streamed:
 * JSONL line by line through node:readline, CSV through csv-parse with the header row as field names, so memory
 * stays flat whatever the object size. An unparseable line or CSV record becomes an item with an `error` and its
 * position (`s3://bucket/key line N`); it never stops the rest of the pull. Pages may span objects.
 */
export class S3ObjectReader implements PullReader {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly format: 'jsonl' | 'csv';
  private readonly pageSize: number;

  constructor(options: S3ObjectReaderOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.format = options.format;
    this.pageSize = options.pageSize ?? 1000;
  }

  async *pages(options: PullReadOptions): AsyncGenerator<PulledPage> {
    const from = options.continuation ? (JSON.parse(options.continuation) as S3Continuation) : undefined;
    let buffer: PulledItem[] = [];
    let firstLabel: string | undefined;
    const self = this;

    async function* drain(key: string, n: number, lastLabel: string): AsyncGenerator<PulledPage> {
      yield { items: buffer, next: JSON.stringify({ key, n } satisfies S3Continuation), label: `${firstLabel} to ${lastLabel}` };
      buffer = [];
      firstLabel = undefined;
    }

    const objects = this.listKeys(from && 'key' in from ? from.key : from?.after, from && 'key' in from);
    for await (const key of objects) {
      const skip = from && 'key' in from && from.key === key ? from.n : 0;
      const where = `s3://${this.bucket}/${key}`;
      for await (const unit of this.read(key, skip)) {
        firstLabel ??= `${where} line ${unit.line}`;
        buffer.push({ ...(unit.error !== undefined ? { error: unit.error } : { record: unit.record }), position: `${where} line ${unit.line}` });
        if (buffer.length >= self.pageSize) yield* drain(key, unit.n, `line ${unit.line}`);
      }
    }
    if (buffer.length) yield { items: buffer, label: `${firstLabel} to the end` };
  }

  /** Keys under the prefix in order, starting after `start` (or at it, when `inclusive`). */
  private async *listKeys(start: string | undefined, inclusive: boolean | undefined): AsyncGenerator<string> {
    if (start !== undefined && inclusive) yield start;
    // S3 lists keys in UTF-8 byte order, which JavaScript's string order (UTF-16 units) does not follow past U+FFFF.
    const after = start === undefined ? undefined : Buffer.from(start, 'utf8');
    let token: string | undefined;
    const { ListObjectsV2Command } = await importS3();
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix || undefined,
          ContinuationToken: token,
          StartAfter: token ? undefined : start,
        }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        if (after !== undefined && Buffer.compare(Buffer.from(o.Key, 'utf8'), after) <= 0) continue;
        yield o.Key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Whether `key` is still in the bucket, by a listing of that key alone. */
  private async listed(key: string): Promise<boolean> {
    const { ListObjectsV2Command } = await importS3();
    const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }));
    return page.Contents?.[0]?.Key === key;
  }

  /** Units of one object after the first `skip`: `n` counts units consumed (lines for JSONL, records for CSV). */
  private async *read(key: string, skip: number): AsyncGenerator<{ n: number; line: number; record?: unknown; error?: string }> {
    let out;
    const { GetObjectCommand } = await importS3();
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      // Removed since it was listed (or since the checkpoint): nothing to read. S3 answers a missing key 404 only to
      // a caller that may list the bucket, else 403 (GetObject API reference); a role that may list only under the
      // prefix gets the 403, so a listing of that one key tells a removed object from a refused one.
      if ((err as { name?: string }).name === 'NoSuchKey') return;
      // A listing refused too says nothing of the object: the read's own error is the one to report.
      if (httpStatusOf(err) === 403 && (await this.listed(key).catch(() => true)) === false) return;
      throw err;
    }
    if (!out.Body) return;
    const body = out.Body instanceof Readable ? out.Body : Readable.from(out.Body as AsyncIterable<Uint8Array>);
    try {
      if (this.format === 'jsonl') yield* readJsonl(body, skip);
      else yield* readCsv(body, skip);
    } finally {
      body.destroy();
    }
  }
}

async function* readJsonl(body: Readable, skip: number): AsyncGenerator<{ n: number; line: number; record?: unknown; error?: string }> {
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (line <= skip) continue;
    const trimmed = line === 1 ? text.replace(/^\uFEFF/, '').trim() : text.trim();
    if (trimmed === '') continue;
    try {
      // Exactly: a number a double cannot hold stays its digits, for the record to be quarantined, not rounded.
      yield { n: line, line, record: parseJsonPulled(trimmed) };
    } catch (err) {
      // The message names the problem, never the line's content (it may hold PII).
      yield { n: line, line, error: `line ${line} is not valid JSON: ${jsonErrorText(err)}` };
    }
  }
}

async function* readCsv(body: Readable, skip: number): AsyncGenerator<{ n: number; line: number; record?: unknown; error?: string }> {
  // Records that csv-parse could not read at all (e.g. an unclosed quote); it reports them ahead of the records
  // it still holds, so they are put back in line order below.
  const skipped: { line: number; error: string }[] = [];
  const parser = body.pipe(
    parse({
      columns: true,
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined) => {
        if (!err) return undefined;
        const line = Number(err.lines ?? 0);
        // csv-parse reports each stray quote of a record: one record, one item.
        if (skipped.at(-1)?.line !== line) skipped.push({ line, error: csvErrorText(err, line) });
        return undefined;
      },
    }),
  );
  body.on('error', (err) => parser.destroy(err));
  let n = 0;
  let invalid = 0;
  function* flushSkipped(before: number) {
    while (skipped.length && skipped[0]!.line < before) {
      const s = skipped.shift()!;
      n++;
      if (n > skip) yield { n, line: s.line, error: s.error };
    }
  }
  type Row = { record: Record<string, string>; raw: string; info: { lines: number; invalid_field_length: number } };
  for await (const row of parser as AsyncIterable<Row>) {
    // info.lines is the record's last line; quoted newlines inside it move its first line up.
    const line = row.info.lines - (row.raw.replace(/\r?\n$/, '').match(/\n/g)?.length ?? 0);
    yield* flushSkipped(line);
    n++;
    const wrongLength = row.info.invalid_field_length > invalid;
    invalid = row.info.invalid_field_length;
    if (n <= skip) continue;
    if (wrongLength) yield { n, line, error: `CSV record on line ${line} does not have as many fields as the header row` };
    else yield { n, line, record: row.record };
  }
  yield* flushSkipped(Infinity);
}

/** What csv-parse found wrong, by its code and field: its message quotes the field's value, which may be PII. */
function csvErrorText(err: CsvError, line: number): string {
  const what = CSV_PROBLEMS[err.code] ?? err.code;
  const field = typeof err.column === 'string' || typeof err.column === 'number' ? ` in field ${JSON.stringify(String(err.column))}` : '';
  return `CSV record on line ${line} is invalid: ${what}${field}`;
}

const CSV_PROBLEMS: Record<string, string> = {
  INVALID_OPENING_QUOTE: 'a quote inside an unquoted value',
  CSV_INVALID_CLOSING_QUOTE: 'characters after a closing quote',
  CSV_QUOTE_NOT_CLOSED: 'a quote that is never closed',
  CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: 'not as many fields as the header row',
};

import 'aws-sdk-client-mock-vitest/extend';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectReader } from '../../../functions/adapters/s3-object-reader';
import type { PulledItem, PulledPage } from '../../../functions/ports';
import { InexactNumber } from '../../../functions/core/json-safety';

const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'us-east-1' });

/** An SDK-shaped streaming body, delivered in small chunks so lines and quoted fields span chunks. */
const body = (text: string) => sdkStreamMixin(Readable.from(chunks(text, 7)));
function* chunks(text: string, size: number) {
  const buf = Buffer.from(text, 'utf8');
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** S3 lists keys in UTF-8 binary order (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). */
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

function objects(files: Record<string, string>, pageSize = 1000) {
  const keys = Object.keys(files).sort(utf8Order);
  s3.on(ListObjectsV2Command).callsFake((input: { StartAfter?: string; ContinuationToken?: string }) => {
    const from = input.ContinuationToken ? Number(input.ContinuationToken) : keys.findIndex((k) => input.StartAfter === undefined || utf8Order(k, input.StartAfter) > 0);
    const start = from < 0 ? keys.length : from;
    const page = keys.slice(start, start + pageSize);
    const more = start + pageSize < keys.length;
    return { Contents: page.map((Key) => ({ Key, Size: files[Key]!.length })), IsTruncated: more, NextContinuationToken: more ? String(start + pageSize) : undefined };
  });
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    if (!(input.Key in files)) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return { Body: body(files[input.Key]!) };
  });
}

async function collect(reader: S3ObjectReader, continuation?: string): Promise<PulledPage[]> {
  const out: PulledPage[] = [];
  for await (const p of reader.pages({ continuation })) out.push(p);
  return out;
}
const items = (pages: PulledPage[]): PulledItem[] => pages.flatMap((p) => p.items);

describe('S3ObjectReader', () => {
  beforeEach(() => s3.reset());

  it('streams JSONL objects under a prefix in key order; a bad line is an item with its error and position', async () => {
    // Prepare
    objects({
      'exports/a.jsonl': '{"id":1}\n\n{"id":2}\r\n{not json}\n{"id":3}',
      'exports/b.jsonl': '\uFEFF{"id":4}\n',
      'exports/dir/': '',
    });
    const reader = new S3ObjectReader({ client, bucket: 'src', prefix: 'exports/', format: 'jsonl' });
    // Act
    const got = items(await collect(reader));
    // Assess
    expect(got).toEqual([
      { record: { id: 1 }, position: 's3://src/exports/a.jsonl line 1' },
      { record: { id: 2 }, position: 's3://src/exports/a.jsonl line 3' },
      { error: expect.stringMatching(/^line 4 is not valid JSON/), position: 's3://src/exports/a.jsonl line 4' },
      { record: { id: 3 }, position: 's3://src/exports/a.jsonl line 5' },
      { record: { id: 4 }, position: 's3://src/exports/b.jsonl line 1' },
    ]);
    expect(got[2]!.error).not.toContain('not json');
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'src', Prefix: 'exports/' });
  });

  it('parses CSV with a header row, quoted commas and newlines, and reports a malformed record without stopping', async () => {
    // Prepare
    const csv = 'id,name,note\n1,"Doe, Jane","line one\nline two"\n2,Bob,"say ""hi"""\n3,too,many,fields\n4,Ann,ok\n6,Zq"7"nick,ok\n5,"unclosed\n';
    objects({ 'people.csv': csv });
    const reader = new S3ObjectReader({ client, bucket: 'src', format: 'csv' });
    // Act
    const got = items(await collect(reader));
    // Assess
    expect(got[0]).toEqual({ record: { id: '1', name: 'Doe, Jane', note: 'line one\nline two' }, position: 's3://src/people.csv line 2' });
    expect(got[1]).toEqual({ record: { id: '2', name: 'Bob', note: 'say "hi"' }, position: 's3://src/people.csv line 4' });
    expect(got[2]).toEqual({ error: 'CSV record on line 5 does not have as many fields as the header row', position: 's3://src/people.csv line 5' });
    expect(got[3]).toEqual({ record: { id: '4', name: 'Ann', note: 'ok' }, position: 's3://src/people.csv line 6' });
    // A record with two stray quotes is one item, and csv-parse's message, which quotes the field, is not kept.
    expect(got[4]).toEqual({ error: 'CSV record on line 7 is invalid: a quote inside an unquoted value in field "name"', position: 's3://src/people.csv line 7' });
    expect(got[5]).toEqual({ error: 'CSV record on line 8 is invalid: a quote that is never closed in field "name"', position: 's3://src/people.csv line 8' });
    expect(got).toHaveLength(6);
  });

  it('keeps a number a double cannot hold as its digits, for the pull to quarantine rather than round', async () => {
    // Prepare
    objects({ 'p/1.jsonl': '{"id":1,"amount":0.12345678901234567891}\n{"id":2,"amount":1.5}' });
    const reader = new S3ObjectReader({ client, bucket: 'src', prefix: 'p/', format: 'jsonl' });

    // Act
    const [first, second] = items(await collect(reader)).map((i) => i.record as { amount: unknown });

    // Assess
    expect(first!.amount).toBeInstanceOf(InexactNumber);
    expect((first!.amount as InexactNumber).text).toBe('0.12345678901234567891');
    expect(second!.amount).toBe(1.5);
  });

  it('resumes after a key in S3\'s UTF-8 order, which puts an emoji key after a fullwidth one (JavaScript\'s string order does not)', async () => {
    // Prepare: U+FF01 is EF BC 81 in UTF-8, U+1F600 is F0 9F 98 80; in UTF-16 the emoji's D83D comes first.
    objects({ 'p/a.jsonl': '{"id":1}', 'p/\uFF01.jsonl': '{"id":2}', 'p/\u{1F600}.jsonl': '{"id":3}' });
    const reader = new S3ObjectReader({ client, bucket: 'src', prefix: 'p/', format: 'jsonl', pageSize: 1 });

    // Act
    const pages = await collect(reader);
    const resumed = await collect(reader, pages[1]!.next);

    // Assess
    expect(items(pages).map((i) => (i.record as { id: number }).id)).toEqual([1, 2, 3]);
    expect(items(resumed).map((i) => (i.record as { id: number }).id)).toEqual([3]);
  });

  it('pages by record count across objects and resumes from a continuation inside an object', async () => {
    // Prepare
    const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i })).join('\n');
    objects({ 'p/1.jsonl': lines(1, 5), 'p/2.jsonl': lines(6, 5), 'p/3.jsonl': lines(11, 2) }, 2);
    const reader = new S3ObjectReader({ client, bucket: 'src', prefix: 'p/', format: 'jsonl', pageSize: 4 });
    // Act
    const all = await collect(reader);
    const resumed = await collect(reader, all[1]!.next);
    // Assess
    expect(all.map((p) => p.items.length)).toEqual([4, 4, 4]);
    // The last page may still carry a continuation: resuming from it reads nothing more.
    expect(await collect(reader, all[2]!.next)).toEqual([]);
    expect(JSON.parse(all[1]!.next!)).toEqual({ key: 'p/2.jsonl', n: 3 });
    expect(items(resumed).map((i) => (i.record as { id: number }).id)).toEqual([9, 10, 11, 12]);
  });

  it('skips an object removed since it was listed when S3 answers 403 (the role may list only under the prefix), and fails on a 403 for an object still there', async () => {
    // Prepare: p/2 is removed between the listing and its read; GetObject refuses it as S3 refuses a caller that may
    // not list the whole bucket (403, not 404). A listing of that key alone shows whether it is still there.
    const listing = ['p/1.jsonl', 'p/2.jsonl', 'p/3.jsonl'];
    const setup = (present: string[], refused: string[]) => {
      s3.reset();
      s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string; MaxKeys?: number }) => {
        const keys = input.MaxKeys === 1 ? present.filter((k) => k.startsWith(input.Prefix ?? '')) : listing;
        return { Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
      });
      s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
        if (!present.includes(input.Key) || refused.includes(input.Key)) throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        return { Body: body(`{"key":"${input.Key}"}`) };
      });
      return new S3ObjectReader({ client, bucket: 'src', prefix: 'p/', format: 'jsonl' });
    };

    // Act / Assess: the removed object is skipped.
    const removed = items(await collect(setup(['p/1.jsonl', 'p/3.jsonl'], [])));
    expect(removed.map((i) => i.record)).toEqual([{ key: 'p/1.jsonl' }, { key: 'p/3.jsonl' }]);

    // Act / Assess: one still there but refused fails the pull, as a permission problem must.
    await expect(collect(setup(listing, ['p/2.jsonl']))).rejects.toThrow('Access Denied');

    // Act / Assess: when the listing of the key is refused too, the read's own error is reported, not the listing's.
    setup(['p/1.jsonl', 'p/3.jsonl'], []);
    s3.on(ListObjectsV2Command, { MaxKeys: 1 }).rejects(Object.assign(new Error('listing refused'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    await expect(collect(new S3ObjectReader({ client, bucket: 'src', prefix: 'p/', format: 'jsonl' }))).rejects.toThrow('Access Denied');
  });

  it('skips an object removed since it was checkpointed', async () => {
    objects({ 'p/2.jsonl': '{"id":2}' });
    const reader = new S3ObjectReader({ client, bucket: 'src', prefix: 'p/', format: 'jsonl' });
    const got = items(await collect(reader, JSON.stringify({ key: 'p/1.jsonl', n: 3 })));
    expect(got.map((i) => i.record)).toEqual([{ id: 2 }]);
  });
});

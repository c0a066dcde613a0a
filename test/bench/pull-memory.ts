/**
 * Peak RSS of a full-mode pull of one generated 100,000-record JSONL object through S3ObjectReader and runPull,
 * with in-memory fakes (the pull state lives in this process too, so the figure is an upper bound).
 * Run: npx tsx test/bench/pull-memory.ts [records]
 */
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { flowSchema } from '../../functions/config/schema';
import { S3ObjectReader } from '../../functions/adapters/s3-object-reader';
import { runPull } from '../../functions/core/pull/pull-run';
import type { ScheduleSource } from '../../functions/core/pull/records';
import { noopLogger, noopMetrics, type Publisher } from '../../functions/ports';
import { InMemoryPullStateStore } from '../fixtures/pull-fakes';

const N = Number(process.argv[2] ?? 100_000);
let skipEvery = 0; // second pull: drop every n-th record (delete inference)

function* lines(): Generator<string> {
  let buf = '';
  for (let i = 1; i <= N; i++) {
    if (skipEvery && i % skipEvery === 0) continue;
    buf += `${JSON.stringify({ id: i, name: `person ${i}`, email: `p${i}@example.com`, city: 'Lisbon', score: i % 97, updatedAt: '2026-01-01T00:00:00Z' })}\n`;
    if (buf.length > 64 * 1024) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

const s3 = {
  send: async (command: { constructor: { name: string } }) =>
    command.constructor.name === 'ListObjectsV2Command' ? { Contents: [{ Key: 'big/people.jsonl' }], IsTruncated: false } : { Body: Readable.from(lines()) },
} as unknown as S3Client;

const flow = flowSchema.parse({
  id: 'bench',
  key: ['id'],
  sources: [{ id: 'files', type: 'schedule', every: '5 minutes', s3: { bucket: 'bench-bucket', prefix: 'big/' } }],
  targets: [{ id: 't', type: 'dynamodb' }],
});
let sent = 0;
const publisher: Publisher = { send: async (_q, m) => ((sent += m.length), { failed: [] }) };
const state = new InMemoryPullStateStore();
const deps = {
  flow,
  source: flow.sources[0] as ScheduleSource,
  reader: new S3ObjectReader({ client: s3, bucket: 'b', prefix: 'big/', format: 'jsonl', pageSize: 1000 }),
  state,
  publisher,
  transformQueueUrl: 'q',
  quarantine: { put: async () => undefined, list: async () => ({ items: [] }), get: async () => [], delete: async () => [] },
  audit: { write: async () => undefined, lineage: async () => [], archive: async () => undefined },
  clock: { now: () => Date.now() },
  logger: noopLogger,
  metrics: noopMetrics,
  remainingMs: () => 900_000,
  maskRecord: (r: Record<string, unknown>) => r,
  owner: 'bench',
};

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
const timer = setInterval(sample, 20);
global.gc?.();
const base = process.memoryUsage().rss;

let started = Date.now();
const first = await runPull(deps);
sample();
const firstPeak = peak;
console.log(`pull 1 (all new):      ${first.records} records, ${first.changed} sent, ${Date.now() - started} ms, peak RSS ${mb(firstPeak)} MB (baseline ${mb(base)} MB)`);

skipEvery = 100; // 1% deleted
peak = 0;
started = Date.now();
const second = await runPull(deps, {});
sample();
console.log(`pull 2 (1% removed):   ${second.records} records, ${second.changed} sent, ${second.deletesInferred} deletes, ${Date.now() - started} ms, peak RSS ${mb(peak)} MB`);
clearInterval(timer);
console.log(`fake state held in process: ${state.keyCount('bench', 'files')} key hashes, ${state.seen.size} seen chunks; envelopes sent ${sent}`);

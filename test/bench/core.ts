/**
 * Core throughput on one core: transform + merge of generated CRM records, against a JSON parse+stringify floor.
 * Timed in CPU time (user + system) rather than wall-clock, so other processes on a shared machine do not skew it.
 */
import type { FlowConfig } from '../../functions/config/schema';
import { ENVELOPE_VERSION, eventId, type ChangeEnvelope } from '../../functions/core/envelope';
import { mergeChanges, type MergeDoc } from '../../functions/core/merge';
import { compileTransform } from '../../functions/core/transform/pipeline';
import { generateContacts } from './records';

export interface CoreRow {
  readonly name: string;
  readonly recordsPerSecond: number;
  /** Floor records/s ÷ these records/s: how many times slower than JSON.parse + JSON.stringify. */
  readonly floorRatio: number;
  readonly passed: number;
}

export interface CoreResult {
  readonly records: number;
  readonly keys: number;
  readonly avgRecordBytes: number;
  readonly floorPerSecond: number;
  readonly rows: readonly CoreRow[];
  /** What the timings measure, for the table notes. */
  readonly clock: string;
  /** Timed passes; each figure is the median over them. */
  readonly passes: number;
}

const STRATEGIES = ['lww', 'field-lww', 'priority', 'manual'] as const;

/** The flow with another conflict strategy (priority ranks the flow's sources in order). */
function withStrategy(flow: FlowConfig, strategy: (typeof STRATEGIES)[number]): FlowConfig {
  const conflict = strategy === 'priority' ? { ...flow.conflict, strategy, priority: { '*': flow.sources.map((s) => s.id) } } : { ...flow.conflict, strategy };
  return { ...flow, conflict } as FlowConfig;
}

type CpuUsage = (previous?: NodeJS.CpuUsage) => NodeJS.CpuUsage;
/** The main thread's CPU time where Node has it (23.9+, not 20); else the process's, which adds V8's GC and compiler threads. */
const threadCpu = (process as { threadCpuUsage?: CpuUsage }).threadCpuUsage?.bind(process);
const cpuUsage: CpuUsage = threadCpu ?? process.cpuUsage.bind(process);
const CLOCK = threadCpu ? 'CPU time of the main thread (process.threadCpuUsage, user + system)' : 'CPU time of the process (process.cpuUsage, user + system)';

/** CPU ms of one run of `fn` over `items`. */
async function cpuMs<T>(items: readonly T[], fn: (items: readonly T[]) => Promise<void> | void): Promise<number> {
  const start = cpuUsage();
  await fn(items);
  const used = cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function benchCore(flow: FlowConfig, options: { records?: number; keys?: number; warmup?: number; passes?: number } = {}): Promise<CoreResult> {
  const n = options.records ?? 20_000;
  const keys = options.keys ?? n / 4;
  const warmup = options.warmup ?? 1_000;
  const passes = options.passes ?? 5;
  const source = flow.sources[0]!.id;
  const raws = generateContacts({ count: n, keys, seed: 7 });
  const texts = raws.map((r) => JSON.stringify(r));
  const avgRecordBytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0) / n;
  const tsField = flow.sources[0]!.type === 'webhook' ? flow.sources[0]!.timestampField : undefined;

  const transformer = compileTransform(flow, { hashKey: 'bench-hash-key-0123456789abcdef' });
  const envelopes = raws.map((data, i): ChangeEnvelope => {
    const ts = tsField ? Date.parse(String(data[tsField])) : i;
    return { v: ENVELOPE_VERSION, id: eventId(flow.id, source, `msg_${i}`, 0), flow: flow.id, source, key: '', op: 'upsert', ts, seq: `msg_${i}#000`, data, lineage: [{ step: 'capture', at: ts, outcome: 'captured' }] };
  });

  let sink = 0;
  let passed = 0;
  // Floor: what any JSON pipeline pays to read and write each record once.
  const floor = (items: readonly string[]) => {
    for (const t of items) sink += JSON.stringify(JSON.parse(t)).length;
  };
  const transformOnly = async (items: readonly ChangeEnvelope[]) => {
    passed = 0;
    for (const env of items) if ((await transformer.apply(env.data!, env.op)).status === 'passed') passed++;
  };
  const withMerge = (f: FlowConfig) => async (items: readonly ChangeEnvelope[]) => {
    const docs = new Map<string, MergeDoc>();
    passed = 0;
    for (const env of items) {
      const result = await transformer.apply(env.data!, env.op);
      if (result.status !== 'passed') continue;
      passed++;
      const next: ChangeEnvelope = { ...env, key: result.key, data: result.record, lineage: [...env.lineage, { step: 'transform', at: env.ts, outcome: 'passed' }] };
      // Handed over, as the resolve step hands over the doc it has just read.
      const merged = mergeChanges(f, docs.get(result.key), [next], { owned: true });
      docs.set(result.key, merged.doc);
    }
  };
  const pipelines: { name: string; run: (items: readonly ChangeEnvelope[]) => Promise<void> }[] = [
    { name: 'transform only (example flow)', run: transformOnly },
    ...STRATEGIES.map((strategy) => ({ name: `transform + merge, ${strategy}`, run: withMerge(withStrategy(flow, strategy)) })),
  ];

  // Warm-up (JIT), then passes that time the floor and every pipeline in turn: the medians are taken over passes, so a
  // garbage collection or a noisy neighbour in one pass does not decide a figure, and drift hits floor and pipelines alike.
  floor(texts.slice(0, warmup));
  for (const p of pipelines) await p.run(envelopes.slice(0, warmup));
  const floorTimes: number[] = [];
  const times = pipelines.map(() => [] as number[]);
  const passedBy = pipelines.map(() => 0);
  for (let pass = 0; pass < passes; pass++) {
    floorTimes.push(await cpuMs(texts, floor));
    for (const [i, p] of pipelines.entries()) {
      times[i]!.push(await cpuMs(envelopes, p.run));
      passedBy[i] = passed;
    }
  }
  const floorPerSecond = (n / median(floorTimes)) * 1000;
  const rows: CoreRow[] = pipelines.map((p, i) => {
    const recordsPerSecond = (n / median(times[i]!)) * 1000;
    return { name: p.name, recordsPerSecond, floorRatio: floorPerSecond / recordsPerSecond, passed: passedBy[i]! };
  });
  if (sink < 0) console.log(sink);
  return { records: n, keys, avgRecordBytes, floorPerSecond, rows, clock: CLOCK, passes };
}

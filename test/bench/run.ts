/**
 * `npm run bench`: prints syncline's performance figures (DESIGN.md §5). Figures, never pass/fail.
 *
 *   npm run bench [-- --records 10000] [--core-records 20000] [--only core,bundles,e2e,peer]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { readCdkContext } from '../../lib/config/cdk-context';
import { loadConfig } from '../../lib/config/load';
import { benchBundles, type BundleRow } from './bundles';
import type { CoreResult } from './core';
import { benchCoreBundled } from './core-bundled';
import { costLines, countsOf, PRICES } from './cost';
import { benchE2e, type E2eResult } from './e2e';
import { benchPeer, type PeerResult } from './peer';
import { num, sig, table, usd } from './table';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '10000' },
    'core-records': { type: 'string', default: '20000' },
    only: { type: 'string', default: 'core,bundles,e2e,peer' },
  },
});
const only = new Set(values.only!.split(',').map((s) => s.trim()));
const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const config = loadConfig(readCdkContext());
const flow = config.flows[0]!;
const started = Date.now();
const machine = `node ${process.version}, ${process.platform} ${process.arch}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, load average ${loadavg()
  .map((l) => l.toFixed(1))
  .join(' ')} at start`;

let core: CoreResult | undefined;
let bundles: BundleRow[] | undefined;
let e2e: E2eResult | undefined;
let peer: PeerResult | undefined;

if (only.has('core')) {
  progress(`core: ${values['core-records']} records × 6 pipelines, one core…`);
  core = await benchCoreBundled(flow, { records: Number(values['core-records']) });
}
if (only.has('bundles')) {
  progress('bundles: esbuild each entry and import it 5 times in a fresh node…');
  bundles = await benchBundles(flow);
}
if (only.has('e2e')) {
  progress(`e2e: local runtime (DynamoDB Local + fauxqs), ${values.records} records as signed webhooks…`);
  e2e = await benchE2e({ config, records: Number(values.records) });
}
if (only.has('peer')) {
  progress(`peer: the same sync with Powertools batch + idempotency on its own DynamoDB Local + fauxqs, ${values.records} records…`);
  peer = await benchPeer({ records: Number(values.records) });
}

const out: string[] = [];
const section = (title: string, body: string, notes: string[] = []) => out.push(`## ${title}\n\n${body}\n${notes.map((n) => `\n${n}`).join('')}\n`);
out.push(`# syncline bench: flow "${flow.id}" (cdk.json), ${new Date().toISOString().slice(0, 16)}Z\n\n${machine}\n`);

if (core) {
  section(
    `1. Core throughput, one core: ${num(core.records)} generated CRM records over ${num(core.keys)} contacts (${num(core.avgRecordBytes)} B of JSON each)`,
    table(
      ['pipeline', 'records/s', 'floor ÷ this', 'this as % of floor'],
      [
        ['JSON.parse + JSON.stringify of each record (floor)', num(core.floorPerSecond), '1.0×', '100%'],
        ...core.rows.map((r) => [r.name, num(r.recordsPerSecond), `${r.floorRatio.toFixed(1)}×`, `${((100 / r.floorRatio) || 0).toFixed(1)}%`]),
      ],
    ),
    [
      'transform = compileTransform(example flow).apply; merge = mergeChanges into the key\'s doc (4 updates per contact); priority ranks the flow\'s sources.',
      'The core runs as the functions ship it: bundled and minified by esbuild, as the CDK bundles a function.',
      `"floor ÷ this": how many times slower than only parsing and serializing each record. ${core.clock}; median of ${core.passes} passes, each timing the floor and every pipeline in turn, after a 1,000-record warm-up.`,
    ],
  );
}

if (e2e) {
  const n = e2e.delivered || 1;
  const writes = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
  const rows = [...e2e.commands]
    .sort((a, b) => a.client.localeCompare(b.client) || b.calls - a.calls)
    .map((c) => {
      const dynamo = c.client === 'DynamoDB';
      const isWrite = dynamo && writes.has(c.command);
      return [
        c.client,
        c.command,
        num(c.calls),
        sig(c.calls / n),
        num(c.items),
        c.client === 'SQS' ? sig(c.billedRequests / n) : '',
        isWrite ? sig(c.measuredUnits / n) : '',
        dynamo && !isWrite ? sig(c.measuredUnits / n) : '',
        isWrite ? sig(c.estimatedWru / n) : '',
        c.errors ? `${num(c.errors)} (${Object.entries(c.errorNames).map(([k, v]) => `${k} ${v}`).join(', ')})` : '',
        num(c.totalMs / Math.max(1, c.calls), 1),
      ];
    });
  const counts = countsOf(e2e);
  const receives = e2e.commands.find((c) => c.client === 'SQS' && c.command === 'ReceiveMessage');
  section(
    `2. AWS API calls per synced record: ${num(e2e.delivered)} records end to end on the local runtime`,
    table(['client', 'command', 'calls', 'per record', 'items', 'SQS billed req/record', 'WRU/record', 'RRU/record', 'est. WRU/record', 'errors', 'avg ms'], [
      ...rows,
      ['all', 'DynamoDB', num(e2e.commands.filter((c) => c.client === 'DynamoDB').reduce((s, c) => s + c.calls, 0)), sig(e2e.commands.filter((c) => c.client === 'DynamoDB').reduce((s, c) => s + c.calls, 0) / n), '', '', sig(counts.wruMeasured / n), sig(counts.rruMeasured / n), sig(counts.wruEstimated / n), '', ''],
      ['all', 'SQS', num(e2e.commands.filter((c) => c.client === 'SQS').reduce((s, c) => s + c.calls, 0)), sig(e2e.commands.filter((c) => c.client === 'SQS').reduce((s, c) => s + c.calls, 0) / n), '', sig(counts.sqsBilledRequests / n), '', '', '', '', ''],
    ]),
    [
      'Counted by an initialize-step middleware on every SDK client of the runtime (the handlers use the same clients), from the first webhook sent to the last record delivered.',
      'WRU/RRU: capacity reported by DynamoDB Local, which the middleware asks for with ReturnConsumedCapacity INDEXES (it includes the audit table\'s GSI writes; transactions count 2 per KB), plus the items a BatchGetItem did not find, which AWS bills and DynamoDB Local does not report (1 RRU each for a strongly consistent read).',
      'est. WRU: cross-check from JSON item sizes (1 per started KB, transactions 2×, no GSI writes); for UpdateItem only its key + values are known, a lower bound since the size of the whole item is billed. Failed conditional writes (errors) are billed on AWS too but report no capacity here.',
      `SQS billed requests: each started 64 KB of payload is one request. ReceiveMessage are the local event source mapping's polls (${num(receives?.calls ?? 0)}, of which ${num(receives?.empty ?? 0)} empty): on AWS the ESM's ReceiveMessage and DeleteMessageBatch calls are billed to the queue owner as SQS requests too (AWS knowledge center "Why are my Amazon SQS charges higher than expected?"); its idle long polls are a fixed monthly cost per queue, not per record, and the local poller (1 s waits, 10 messages per receive) only approximates its batching.`,
    ],
  );
  section(
    '2a. DynamoDB capacity per synced record by table (as reported by DynamoDB Local, indexes included)',
    table(
      ['table', 'WRU/record', 'RRU/record', 'share of all WRU'],
      [...e2e.tables]
        .sort((a, b) => b.writeUnits - a.writeUnits)
        .map((t) => [`${t.role} (${t.name})`, sig(t.writeUnits / n), sig(t.readUnits / n), `${((100 * t.writeUnits) / Math.max(1, counts.wruMeasured)).toFixed(0)}%`]),
    ),
  );
  section(
    '2b. Lambda invocations per synced record (handler wrapper; capture = one per webhook request, the others one per SQS batch)',
    table(
      ['function', 'memory MB', 'invocations', 'per record', 'records/invocation', 'avg ms', 'p99 ms', 'GB-s per million records'],
      e2e.functions.map((f) => {
        const d = [...f.durations].sort((a, b) => a - b);
        return [f.name, num(f.memoryMb), num(f.invocations), sig(f.invocations / n), num(f.records / f.invocations, 1), num(f.totalMs / f.invocations, 0), num(d[Math.max(0, Math.ceil(d.length * 0.99) - 1)] ?? NaN, 0), num((f.gbSeconds / n) * 1e6, 0)];
      }),
    ),
    ['Durations are local wall time, dominated by DynamoDB Local (see avg ms per call above; DynamoDB answers in single-digit ms): an upper bound for Lambda compute.'],
  );

  const lines = costLines(counts);
  const total = lines.reduce((s, l) => s + l.usdPerMillionRecords, 0);
  const computeless = total - (lines.find((l) => l.service === 'Lambda arm64')?.usdPerMillionRecords ?? 0);
  section(
    `3. Estimated USD per million synced records: ${PRICES.region} on-demand list prices checked ${PRICES.checked} (PRICES.md)`,
    table(['service', 'unit', 'units per record', 'price (USD)', 'USD per million records'], [
      ...lines.map((l) => [l.service, l.unit, sig(l.perRecord, 4), l.priceText, usd(l.usdPerMillionRecords)]),
      ['total', '', '', '', usd(total)],
      ['total without Lambda compute', '', '', '', usd(computeless)],
      ['reference: Airbyte Cloud, API/custom sources', 'row', '1', `${PRICES.airbytePerMillionRows} per million rows`, usd(PRICES.airbytePerMillionRows)],
      ['reference: EventBridge Pipes', 'request after filtering', '1 (one event per record)', `${PRICES.pipesPerMillionRequests} per million`, usd(PRICES.pipesPerMillionRequests)],
    ]),
    [
      `syncline: ${usd(total)} USD per million records = ${((100 * total) / PRICES.airbytePerMillionRows).toFixed(0)}% of Airbyte's ${PRICES.airbytePerMillionRows}, ${(total / PRICES.pipesPerMillionRequests).toFixed(1)}× the EventBridge Pipes request price (Pipes only moves events: no transform, merge, state, audit or target writes).`,
      'Lambda compute uses the plan\'s memory sizes (arm64) and the local durations above, so it is an upper bound. Not included: CloudWatch Logs and metrics (Powertools JSON logs, EMF), X-Ray traces, Secrets Manager and KMS calls, DynamoDB storage, data transfer, idle ESM polling, free tiers.',
    ],
  );
}

if (peer) {
  /** The side-by-side figures of one run. */
  const figures = (run: E2eResult | PeerResult) => {
    const n = run.delivered || 1;
    const c = countsOf(run);
    const lines = costLines(c);
    const dynamoCalls = run.commands.filter((x) => x.client === 'DynamoDB').reduce((s, x) => s + x.calls, 0);
    const usdTotal = lines.reduce((s, l) => s + l.usdPerMillionRecords, 0);
    return { lines, values: [dynamoCalls / n, c.wruMeasured / n, c.rruMeasured / n, c.sqsBilledRequests / n, usdTotal, run.recordsPerSecond] };
  };
  const p = figures(peer);
  const s = e2e ? figures(e2e) : undefined;
  const labels = ['DynamoDB calls per record', 'WRU per record (measured)', 'RRU per record (measured)', 'SQS billed requests per record', 'USD per million records (Lambda compute included)', 'throughput, records/s'];
  const targets = ['', '≤ 3', '', '≤ 0.3', '≤ 2.5', ''];
  const fmt = (v: number, i: number) => (i === 4 ? usd(v) : i === 5 ? num(v, 1) : sig(v));
  const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? '1.00×' : 'n/a') : `${(a / b).toFixed(2)}×`);
  const rows = labels.map((label, i) => (s ? [label, fmt(s.values[i]!, i), fmt(p.values[i]!, i), targets[i]!, ratio(s.values[i]!, p.values[i]!)] : [label, fmt(p.values[i]!, i), targets[i]!]));
  const n = peer.delivered || 1;
  const pn = (x: number) => sig(x / n);
  const byTable = [...peer.tables].sort((a, b) => b.writeUnits - a.writeUnits).map((t) => `${t.role} ${pn(t.writeUnits)}`).join(', ');
  const calls = [...peer.commands]
    .sort((a, b) => a.client.localeCompare(b.client) || b.calls - a.calls)
    .map((c) => `${c.client} ${c.command} ${pn(c.calls)}${c.errors ? ` (${num(c.errors)} failed: ${Object.entries(c.errorNames).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`)
    .join(', ');
  const services = p.lines.map((l, i) => `${l.service} ${l.unit.split(' (')[0]} ${usd(l.usdPerMillionRecords)}${s ? ` (syncline ${usd(s.lines[i]!.usdPerMillionRecords)})` : ''}`).join('; ');
  section(
    `3a. The same sync built with Powertools (batch + idempotency), measured the same way: ${num(peer.delivered)} records${e2e ? ', same records as sections 2-3, in the same bench run' : ''}`,
    table(s ? ['figure', 'syncline', 'Powertools peer', 'target', 'syncline ÷ peer'] : ['figure', 'Powertools peer', 'target'], rows),
    [
      'Peer (test/bench/peer.ts): capture verifies the webhook signature and sends one SQS message per record (SendMessageBatch, 10 per call); the consumer (batch size 10, no batching window) runs BatchProcessor(EventType.SQS) + processPartialResponse, each record through makeIdempotent (DynamoDBPersistenceLayer, key = messageId) to a conditional PutItem (absent or older version) into the target table and an audit PutItem. It does what syncline does for this flow minus the per-key state and merge (field-level LWW), conflict handling, webhook-id dedupe and claim checks; its audit table has no index.',
      `Measured as syncline's e2e run: fresh DynamoDB Local + fauxqs servers, the same signed webhooks (100 records per request, 4 in parallel), call-counting middleware, handler wrapper and 500 uncounted warm-up records${e2e ? '; the peer runs after syncline, not alongside it' : ''}. USD with the same prices and Lambda compute from local durations (peer memory: capture 512 MB, consumer 256 MB).`,
      `Peer calls per record: ${calls}. WRU per record by table: ${byTable}.`,
      `Peer USD per million records by service: ${services}.`,
      `Peer throughput: ${num(peer.records)} sent / ${num(peer.delivered)} delivered${peer.timedOut ? ' (timed out)' : ''}, lag p50 / p99 ${num(peer.lagMs.p50 / 1000, 1)} / ${num(peer.lagMs.p99 / 1000, 1)} s, ${num(peer.targetItems)} items in its target table (warm-up included), queue drained afterwards: ${peer.idleAtEnd ? 'yes' : 'no'}.`,
      ...(s ? ['syncline ÷ peer: below 1× syncline uses less per record than the peer (for throughput: is slower).'] : []),
      ...peer.warnings.map((w) => `warning (peer): ${w}`),
    ],
  );
}

if (bundles) {
  section(
    '4. Bundle size and module-load time per function (esbuild as the CDK bundles: ESM, minify, platform node, target node20, flow baked in with define, createRequire banner)',
    table(
      ['function (entry)', 'bytes', 'gzip bytes', 'import ms (median of 5)', 'node process ms (median of 5)'],
      bundles.map((b) => (b.error ? [b.handler, 'n/a', 'n/a', 'n/a', 'n/a'] : [b.handler, num(b.bytes!), num(b.gzipBytes!), num(b.importMs!, 0), num(b.processMs!, 0)])),
    ),
    [
      'import ms: `await import(bundle)` timed inside a fresh `node` with the entry\'s environment variables (dummy values, AWS_REGION=us-east-1); process ms: spawn to exit.',
      'Entries for sources or targets the example flow lacks are bundled with a copy of the flow that adds one (sqs, dynamodb-stream, schedule sources; s3, eventbridge, http, sqs targets).',
      ...bundles.filter((b) => b.error).map((b) => `${b.handler}: failed: ${b.error}`),
    ],
  );
}

if (e2e) {
  section(
    `5. Local end-to-end throughput and lag: ${num(e2e.records)} records`,
    table(['figure', 'value'], [
      ['records sent / delivered to the target table', `${num(e2e.records)} / ${num(e2e.delivered)}${e2e.timedOut ? ' (timed out)' : ''}`],
      ['webhook requests', `${num(e2e.requests)} × ${e2e.recordsPerRequest} records, ${e2e.concurrency} in parallel, all sent in ${e2e.sendSeconds.toFixed(1)} s${e2e.rejectedRequests ? `, ${e2e.rejectedRequests} rejected` : ''}`],
      ['throughput = records / (last delivery − first send)', `${num(e2e.recordsPerSecond, 1)} records/s`],
      ['lag p50 / p90 / p99 / max (send of the request → delivery of the key)', `${num(e2e.lagMs.p50 / 1000, 1)} / ${num(e2e.lagMs.p90 / 1000, 1)} / ${num(e2e.lagMs.p99 / 1000, 1)} / ${num(e2e.lagMs.max / 1000, 1)} s`],
      ['items in the target table afterwards', `${num(e2e.targetItems)} (${num(e2e.warmupRecords)} of them warm-up records)`],
      ['queues drained afterwards', e2e.idleAtEnd ? 'yes' : 'no'],
    ]),
    [
      'A burst: every request is sent as fast as the senders go, so lag includes waiting behind the backlog. Delivery time = when the deliver handler returned for the key (handler wrapper). 500 warm-up records go through first, uncounted.',
      ...e2e.warnings.map((w) => `warning: ${w}`),
    ],
  );
}

out.push(`bench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.stdout.write(`${out.join('\n')}\n`);

import { fuzzWebhook } from '../support/webhook-fuzz';

/** `npm run fuzz [-- <runs>]`: a random-seeded fuzz of the webhook function; exits 1 on any 5xx or hang. */
const runs = Number(process.argv[2] ?? process.env.FUZZ_RUNS ?? 10_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const started = Date.now();
const report = await fuzzWebhook(runs, seed);
console.log(`webhook fuzz: ${report.runs} requests, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
for (const [status, n] of Object.entries(report.byStatus).sort()) console.log(`  ${status.padEnd(12)} ${n}`);
console.log(`  5xx or thrown: ${report.fiveXx}, hangs: ${report.hangs}`);
for (const e of report.examples) console.log(`  example: ${e}`);
process.exitCode = report.fiveXx > 0 || report.hangs > 0 ? 1 : 0;

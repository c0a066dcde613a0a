import { readFileSync } from 'node:fs';
import type { TryAnswer } from '../../functions/handlers/try-record';
import { runAdmin } from './admin-commands';
import { EXIT, parse, UsageError, type Command, type CommandContext } from './command';
import { TARGET_USAGE, targetOptions } from './target';
import { messageOf } from '../../functions/core/errors';
import { jsonDepth, MAX_BODY_DEPTH, parseJsonExact } from '../../functions/core/json-safety';

/** Reads the record from a file or stdin (`-`); not JSON, or not an object, is a usage error. */
function readRecord(from: string, stdin: () => string): Record<string, unknown> {
  let text: string;
  try {
    text = from === '-' ? stdin() : readFileSync(from, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --record ${from}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
  // The digits of a number a double cannot hold are kept and sent as they are, for the capture to judge as it would.
  const depth = jsonDepth(text);
  if (depth > MAX_BODY_DEPTH) throw new UsageError(`--record ${from} nests ${depth} levels deep; the limit is ${MAX_BODY_DEPTH}`);
  let value: unknown;
  try {
    value = parseJsonExact(text);
  } catch (err) {
    throw new UsageError(`--record ${from} is not JSON: ${messageOf(err)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--record ${from} must hold one JSON object (a record as the source sends it)`);
  return value as Record<string, unknown>;
}

/** `--header 'Name: value'` options as lower-case header names, as API Gateway gives them; undefined when none. */
function readHeaders(options: readonly string[]): Record<string, string> | undefined {
  if (options.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const option of options) {
    const colon = option.indexOf(':');
    const name = option.slice(0, Math.max(colon, 0)).trim().toLowerCase();
    if (name === '') throw new UsageError(`--header must be 'Name: value', got "${option}"`);
    const value = option.slice(colon + 1).trim();
    // A repeated header is one list, as HTTP joins it (and API Gateway hands it over).
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return headers;
}

/** Prints a dry run's answer for a person. */
export function printTry(ctx: CommandContext, a: TryAnswer): void {
  const at = `${a.flow}${a.key ? `/${a.key}` : ''} from source ${a.source}`;
  switch (a.outcome) {
    case 'filtered':
      ctx.out(`${at}: FILTERED (${a.op}): did not match transform.filter ${JSON.stringify(a.pattern)}`);
      return;
    case 'skipped':
      ctx.out(`${at}: SKIPPED: ${a.reason ?? ''}`);
      return;
    case 'quarantined':
      ctx.out(`${at}: QUARANTINED (${a.op}): ${a.reason ?? ''}`);
      // A capture's one reason is its headline already; a transform lists each check that failed.
      for (const e of a.errors ?? []) if (e !== a.reason) ctx.out(`  - ${e}`);
      return;
    case 'passed': {
      ctx.out(`${at}: PASSED (${a.op})`);
      ctx.out(`  record (masked): ${JSON.stringify(a.record ?? null)}`);
      if (a.piiFlagged?.length) ctx.out(`  looks like PII, not declared or masked: ${a.piiFlagged.join(', ')}`);
      const r = a.resolve;
      if (!r) return;
      const versions = r.version === r.currentVersion ? `stays v${r.currentVersion}` : `v${r.currentVersion} -> v${r.version}`;
      if (r.outcome === 'conflict') {
        ctx.out(`  resolve: CONFLICT (${versions}): ${r.reason}`);
        for (const c of r.conflicts) ctx.out(`    ${c.field}: current ${JSON.stringify(c.current)} from ${c.currentSource}, incoming ${JSON.stringify(c.incoming)} parked for review`);
      } else if (r.outcome === 'new' || r.outcome === 'changed') {
        ctx.out(`  resolve: ${r.outcome === 'new' ? 'NEW record' : 'CHANGED'} (${versions})${r.deleted ? ', deleted' : ''}; fields: ${r.changedFields.join(', ') || '(none visible)'}`);
      } else {
        // The record stays as it is, yet resolve may still write the state: a change's clocks advance it.
        const clocks = r.version === r.currentVersion ? '' : ', only the clocks in its state move';
        ctx.out(`  resolve: ${r.outcome === 'superseded' ? 'SUPERSEDED' : 'NO CHANGE'} to the record (${versions}${clocks}): ${r.reason}`);
      }
      ctx.out('  nothing was written');
    }
  }
}

export function createTryCommand(stdin: () => string = () => readFileSync(0, 'utf8')): Command {
  return {
    summary: 'dry run of one record: what the transform makes of it and what resolve would do; writes nothing',
    usage: [
      'usage: syncline try <flow> [--source <id>] --record <file | -> [target options] [--json]',
      '  --record  a JSON object as the source sends it (a Debezium event for a debezium source); - reads stdin',
      '  --source  the source it comes from (default: the flow\'s first source)',
      "  --header  'Name: value', a request header a webhook source's deleteWhen reads (\"$headers\"); repeatable",
      '  Exit 0 when it would pass, 1 when it would be filtered or quarantined, 2 usage.',
      TARGET_USAGE,
    ].join('\n'),
    async run(ctx) {
      const { values, positionals } = parse(ctx.args, { ...targetOptions, source: { type: 'string' }, record: { type: 'string' }, header: { type: 'string', multiple: true } });
      if (positionals.length !== 1) throw new UsageError('give one flow id');
      if (values.record === undefined || values.record === '') throw new UsageError('give --record <file> (or - for stdin)');
      if (values.source !== undefined && values.source.trim() === '') throw new UsageError('--source must name a source');
      const [flow] = positionals as [string];
      const record = readRecord(values.record, stdin);
      const headers = readHeaders(values.header ?? []);
      return runAdmin(ctx, values, async (target) => {
        const answer = (await target.post(`/flows/${encodeURIComponent(flow)}/try`, { record, ...(values.source ? { source: values.source } : {}), ...(headers ? { headers } : {}) })) as TryAnswer;
        if (values.json) ctx.out(JSON.stringify(answer));
        else printTry(ctx, answer);
        return answer.outcome === 'passed' ? EXIT.ok : EXIT.failure;
      });
    },
  };
}

export const tryCommand = createTryCommand();

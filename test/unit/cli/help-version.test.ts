import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main';

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('syncline help and version', () => {
  it('help <command> shows that command\'s usage, as <command> --help does', async () => {
    const viaHelp = await run(['help', 'lineage']);
    const viaFlag = await run(['lineage', '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.out).toEqual(viaFlag.out);
    expect(viaHelp.out[0]).toMatch(/^usage: syncline lineage <flow> <key>/);
    expect((await run(['help', '--json'])).code).toBe(0);
    const unknown = await run(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err[0]).toBe('syncline: unknown command "frobnicate"');
  });

  it('takes options given before the command as its own', async () => {
    const before = await run(['--json', 'lineage', 'only-a-flow']);
    const after = await run(['lineage', 'only-a-flow', '--json']);
    expect(before).toEqual(after);
    expect(before.code).toBe(2);
    expect(JSON.parse(before.out[0]!)).toMatchObject({ exitCode: 2 });
    // A target option's value is never taken for the command, and what follows `--` stays a positional.
    expect(await run(['--url', 'status', 'lineage', 'only-a-flow'])).toMatchObject({ code: 2, err: [expect.stringMatching(/^syncline lineage: /)] });
    const dashed = await run(['--url', 'not a url', 'lineage', 'f', '--', '-1']);
    expect(dashed.err[0]).toMatch(/--url must be an http:\/\/ URL/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await run(['--version'])).toEqual({ code: 0, out: [`syncline ${version}`], err: [] });
  });
});

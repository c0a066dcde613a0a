import { afterEach, describe, expect, it } from 'vitest';
import { lineageCommand, statusCommand } from '../../../lib/cli/admin-commands';
import type { Command } from '../../../lib/cli/command';
import { startJsonServer, type JsonServer } from '../../support/json-server';

async function run(command: Command, args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command.run({ args, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('admin commands pointed at a server that is not syncline', () => {
  let server: JsonServer | undefined;
  afterEach(() => server?.close());

  it('show an error page on one line, cut short, and exit 1', async () => {
    // Prepare: a web server's HTML error page.
    const page = `<!DOCTYPE html>\n<html>\n  <head><title>404 Not Found</title></head>\n  <body>${'x'.repeat(500)}</body>\n</html>\n`;
    server = await startJsonServer(() => ({ status: 404, body: page }));

    // Act
    const result = await run(lineageCommand, ['crm-contacts', 'c-1', '--url', server.url]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toHaveLength(1);
    expect(result.err[0]).toMatch(/^HTTP 404 from GET \/flows\/crm-contacts\/records\/c-1\/lineage: <!DOCTYPE html> <html> <head><title>404 Not Found<\/title><\/head> <body>x+…$/);
    expect(result.err[0]!.length).toBeLessThan(250);
  });

  it('say the answer was unexpected, without a stack, when a 200 answer lacks what the command reads', async () => {
    // Prepare
    server = await startJsonServer(() => ({ body: { hello: 'world' } }));

    // Act
    const result = await run(statusCommand, ['--url', server.url]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toEqual([expect.stringMatching(/^unexpected answer \(.+\): is the address a syncline runtime or stack\?$/)]);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main';
import { startJsonServer, type JsonServer } from '../../support/json-server';

/** Runs the CLI, gathering what it prints. */
async function run(args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out };
}

const conflict = (i: number) => ({
  id: `c${i}`,
  key: `k${i}`,
  field: 'email',
  status: 'open',
  openedAt: 1_000 + i,
  current: { value: 'a@x.io', source: 'crm' },
  incoming: { value: 'b@x.io', source: 'erp' },
});

describe('listing pages in the CLI', () => {
  let server: JsonServer | undefined;
  afterEach(() => server?.close());

  it('asks for the page given by --limit and --after, and ends a full page with the command for the next', async () => {
    // Prepare: a server that answers every conflict listing with a full page of 2.
    const asked: string[] = [];
    server = await startJsonServer((req) => {
      asked.push(req.url);
      return { body: [conflict(5), conflict(6)] };
    });

    // Act
    const { code, out } = await run(['conflicts', 'list', 'people', '--status', 'all', '--limit', '2', '--after', '1004:c4', '--url', server.url]);

    // Assess
    expect(code).toBe(0);
    expect(asked).toEqual(['/flows/people/conflicts?status=all&limit=2&after=1004%3Ac4']);
    expect(out.at(-1)).toBe("more may follow: syncline conflicts list people --status all --after '1006:c6'");
  });

  it('pages the quarantine listing with --limit and --before, newest first', async () => {
    // Prepare
    const asked: string[] = [];
    server = await startJsonServer((req) => {
      asked.push(req.url);
      return { body: [{ flow: 'people', id: 'q9', source: 'crm', at: 9_000, reason: 'bad', errors: [], record: {}, envelope: {} }] };
    });

    // Act
    const { code, out } = await run(['quarantine', 'list', 'people', '--limit', '1', '--before', '9500:q10', '--url', server.url]);

    // Assess
    expect(code).toBe(0);
    expect(asked).toEqual(['/flows/people/quarantine?limit=1&before=9500%3Aq10']);
    expect(out.at(-1)).toBe("older records may follow: syncline quarantine list people --before '9000:q9'");
  });

  it("shows each quarantined record's key, and its reason once", async () => {
    // Prepare
    server = await startJsonServer(() => ({
      body: [
        { flow: 'people', id: 'q1', source: 'crm', at: 9_000, reason: 'missing key field "id"', errors: ['missing key field "id"'], record: {}, envelope: { key: '' } },
        { flow: 'people', id: 'q2', source: 'crm', at: 8_000, reason: 'schema validation failed', errors: ['/age must be integer'], record: { id: 'p-7' }, envelope: { key: 'p-7' } },
      ],
    }));

    // Act
    const { out } = await run(['quarantine', 'list', 'people', '--url', server.url]);

    // Assess
    expect(out).toEqual([
      '1970-01-01T00:00:09.000Z  q1  source=crm  missing key field "id"',
      '    record: {}',
      '1970-01-01T00:00:08.000Z  q2  source=crm  key=p-7  schema validation failed',
      '    - /age must be integer',
      '    record: {"id":"p-7"}',
    ]);
  });

  it('shows a conflict listed without its values as such', async () => {
    // Prepare
    server = await startJsonServer(() => ({ body: [{ ...conflict(1), current: { source: 'crm' }, incoming: { source: 'erp' }, omitted: 'values left out of this listing: a listing holds at most 4 MB of values' }] }));

    // Act
    const { out } = await run(['conflicts', 'list', 'people', '--url', server.url]);

    // Assess
    expect(out.join('\n')).toContain('current from crm, incoming from erp (values left out of this listing');
    expect(out.join('\n')).not.toContain('more may follow');
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES, MAX_STATE_RECORD_BYTES, recordSizeProblem } from '../../../functions/core/record-limits';
import { packState } from '../../../functions/adapters/state-packing';
import { mergeChanges } from '../../../functions/core/merge';
import { contactsFlow } from '../../fixtures/flows';

const json = (record: Record<string, unknown>) => JSON.stringify(record);
/** Text that deflate cannot shrink much (base64 of random bytes). */
const noise = (bytes: number) => randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);
/** Bytes of the state item's packed doc after merging the record (what resolve writes). */
const stateBytes = (record: Record<string, unknown>) =>
  packState(mergeChanges(contactsFlow, undefined, [{ v: 1, id: 'e', flow: contactsFlow.id, source: 'crm', key: 'a', op: 'upsert', data: record, ts: 1, seq: '1', lineage: [] }]).doc).byteLength;

describe('the size of a record syncline can carry and keep', () => {
  it('takes a record its key state can hold deflated, however large raw, up to the 4 MB carried', () => {
    expect(recordSizeProblem(json({ id: 'a', notes: 'x'.repeat(2 * 1024 * 1024) }), 'upsert')).toBeUndefined();
    const fits = { id: 'a', blob: noise(300 * 1024) };
    expect(recordSizeProblem(json(fits), 'upsert')).toBeUndefined();
    expect(stateBytes(fits)).toBeLessThan(MAX_STATE_RECORD_BYTES);
  });

  it('leaves room beside the largest record it takes for the rest of the state item, within the 400 KB DynamoDB holds', () => {
    // Prepare: the largest noise record the check takes, found by bisection.
    let [lo, hi] = [300 * 1024, 700 * 1024];
    const pool = noise(hi);
    const record = (n: number) => ({ id: 'a', blob: pool.slice(0, n) });
    while (hi - lo > 64) {
      const mid = Math.floor((lo + hi) / 2);
      if (recordSizeProblem(json(record(mid)), 'upsert') === undefined) lo = mid;
      else hi = mid;
    }

    // Act
    const largest = record(lo);

    // Assess: its packed doc leaves at least 8 KB of the item for the key, version, markers and names.
    expect(recordSizeProblem(json(largest), 'upsert')).toBeUndefined();
    expect(stateBytes(largest)).toBeLessThanOrEqual(400 * 1024 - 8 * 1024);
  });

  it('refuses an upsert that even deflated is over what the state item holds, saying by how much', () => {
    const big = { id: 'a', blob: noise(600 * 1024) };
    const problem = recordSizeProblem(json(big), 'upsert');
    // Resolve could never have stored it.
    expect(stateBytes(big)).toBeGreaterThan(MAX_STATE_RECORD_BYTES);
    expect(problem).toMatch(new RegExp(`^record of \\d+ bytes is still \\d+ bytes deflated, more than the ${MAX_STATE_RECORD_BYTES} bytes its key's state can hold$`));
  });

  it('takes a delete of any such record (a delete keeps no values), and refuses anything over 4 MB', () => {
    expect(recordSizeProblem(json({ id: 'a', blob: noise(600 * 1024) }), 'delete')).toBeUndefined();
    expect(recordSizeProblem(json({ id: 'a', notes: 'x'.repeat(MAX_RECORD_BYTES) }), 'delete')).toMatch(/larger than 4194304 bytes/);
  });
});

import { describe, expect, it } from 'vitest';
import { AfterWriteReads } from '../../../functions/adapters/after-write-reads';

/** A reader that records each call's keys and answers every key with its length. */
function reader() {
  const calls: string[][] = [];
  const reads = new AfterWriteReads<number>(async (keys) => {
    calls.push([...keys]);
    return new Map(keys.map((k) => [k, k.length]));
  });
  return { calls, reads };
}

describe('AfterWriteReads', () => {
  it('sends the reads of writes started together as one call, after the last of them is answered', async () => {
    // Prepare
    const { calls, reads } = reader();
    const a = reads.join();
    const b = reads.join();
    const c = reads.join();

    // Act
    const first = a('a');
    const second = b('bb');
    await Promise.resolve();
    const sent = calls.length;
    void c();

    // Assess: nothing was read while c's write was in flight; then both keys in one call.
    expect(sent).toBe(0);
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(calls).toEqual([['a', 'bb']]);
  });

  it('does not hold a group\'s reads for writes started later (the next batch)', async () => {
    // Prepare
    const { calls, reads } = reader();
    const a = reads.join();
    await Promise.resolve();
    const later = reads.join();

    // Act
    const value = await a('a');

    // Assess
    expect(value).toBe(1);
    expect(calls).toEqual([['a']]);
    void later();
  });

  it('answers undefined for a key the read did not find, and passes a failed read to every write waiting on it', async () => {
    // Prepare
    const missing = new AfterWriteReads<number>(async () => new Map());
    const failing = new AfterWriteReads<number>(async () => {
      throw new Error('read failed');
    });
    const [x, y] = [failing.join(), failing.join()];

    // Act / Assess
    expect(await missing.join()('gone')).toBeUndefined();
    await expect(Promise.all([x('x'), y('y')])).rejects.toThrow('read failed');
  });

  it('refuses a write answered twice', () => {
    // Prepare
    const { reads } = reader();
    const done = reads.join();
    void done();

    // Act / Assess
    expect(() => done()).toThrow('answered twice');
  });
});

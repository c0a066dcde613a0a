import { describe, expect, it } from 'vitest';
import { messageOf, SynclineError } from '../../../functions/core/errors';
import { UsageError } from '../../../lib/cli/command';
import { CronError } from '../../../functions/config/cron';

describe('errors', () => {
  it('keeps the cause and the subclass name', () => {
    const cause = new Error('socket hang up');
    const err = new SynclineError('pull failed', { cause });
    expect(err.cause).toBe(cause);
    expect([new UsageError('x').name, new CronError('y').name]).toEqual(['UsageError', 'CronError']);
    expect(new UsageError('x')).toBeInstanceOf(SynclineError);
  });

  it('gives the message of whatever was thrown, never "undefined"', () => {
    expect(messageOf(new TypeError('bad'))).toBe('bad');
    expect(messageOf('plain text')).toBe('plain text');
    expect(messageOf({ message: 'from an object' })).toBe('from an object');
    expect(messageOf({ code: 42 })).toBe('{"code":42}');
    expect(messageOf(undefined)).toBe('undefined');
    expect(messageOf(7)).toBe('7');
  });
});

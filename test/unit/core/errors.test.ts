import { describe, expect, it } from 'vitest';
import { messageOf, SynclineError } from '../../../functions/core/errors';
import { isRefusedContent } from '../../../functions/core/error-text';
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

describe('refusals of an item for its own content', () => {
  const dynamo = (message: string, name = 'ValidationException') => Object.assign(new Error(message), { name, $metadata: {} });

  it.each([
    'Item size has exceeded the maximum allowed size',
    'One or more parameter values were invalid: Type mismatch for Index Key score Expected: N Actual: S IndexName: byScore',
    'Nesting Levels have exceeded supported limits',
    'Number overflow. Attempting to store a number with magnitude larger than supported range',
  ])('are told apart from other errors: %s', (message) => {
    expect(isRefusedContent(dynamo(message))).toBe(true);
  });

  it.each([
    // Follow from the table's configuration (a wrong keyAttribute, a sort key): every item fails alike, a fix and a retry help.
    'The provided key element does not match the schema',
    'One or more parameter values were invalid: Missing the key id in the item',
    'One or more parameter values were invalid: Type mismatch for key id expected: N actual: S',
  ])('leave out what the configuration causes: %s', (message) => {
    expect(isRefusedContent(dynamo(message))).toBe(false);
  });

  it('leave out transient errors', () => {
    expect(isRefusedContent(dynamo('Rate exceeded', 'ThrottlingException'))).toBe(false);
    expect(isRefusedContent(dynamo('We encountered an internal error', 'InternalServerError'))).toBe(false);
  });
});

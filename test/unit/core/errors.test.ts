import { describe, expect, it } from 'vitest';
import { messageOf, SynclineError } from '../../../functions/core/errors';
import { isRefusedContent, jsonErrorText } from '../../../functions/core/error-text';
import { parseJsonExact } from '../../../functions/core/json-safety';
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

describe('JSON parse errors without the input they quote', () => {
  const SECRET = 'Zq7nick-078-05-1120';
  const failing = (parse: (text: string) => unknown, text: string): unknown => {
    try {
      parse(text);
    } catch (err) {
      return err;
    }
    throw new Error(`${text} parsed`);
  };

  it.each([
    // V8 quotes an excerpt around an unexpected token; lossless-json the character found
    [`{"id":"q","nickname":${SECRET},"x":1}`, 'Unexpected token', "Object value expected after ':' at position 21"],
    [`{"nickname":"${SECRET}"}${SECRET}`, 'Unexpected non-whitespace character after JSON at position 34', 'Expected end of input but got another character at position 34'],
    [`{"nickname":"${SECRET}"}`, 'Bad control character in string literal at position 32', 'Invalid character at position 32'],
    [`{"nickname" ${SECRET}}`, "Expected ':' after property name at position 12", "Colon ':' expected after property name but got another character at position 12"],
    [`{"nickname":"${SECRET}`, 'Unterminated string at position 32', `End of string '"' expected but reached end of input at position 32`],
    [`['${SECRET}']`, 'Unexpected token', 'Array item expected but got another character at position 1'],
  ])('%s: names the problem and its position, never the text', (text, v8, exact) => {
    // Act
    const got = [jsonErrorText(failing(JSON.parse, text)), jsonErrorText(failing(parseJsonExact, text))];
    // Assess
    expect(got).toEqual([v8, exact]);
    for (const message of got) for (const part of [SECRET, 'Zq7', 'nick']) expect(message).not.toContain(part);
  });
});

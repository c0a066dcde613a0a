import { describe, expect, it } from 'vitest';
import { parse, UsageError } from '../../../lib/cli/command';

const options = { choose: { type: 'string' }, value: { type: 'string' }, json: { type: 'boolean' } } as const;

describe('command argument parsing', () => {
  it('takes an argument starting with a single "-" as a positional: base64url ids (a conflict id) may start with one', () => {
    // Act
    const { values, positionals } = parse(['resolve', 'people', '-Ux3Lq9', '--choose', 'incoming', '--json'], options);

    // Assess
    expect(positionals).toEqual(['resolve', 'people', '-Ux3Lq9']);
    expect(values).toEqual({ choose: 'incoming', json: true });
  });

  it("takes a string option's value that starts with \"-\", spaced or with =", () => {
    expect(parse(['--value', '-1'], options).values).toEqual({ value: '-1' });
    expect(parse(['--value=-Ab'], options).values).toEqual({ value: '-Ab' });
    expect(parse(['--value', '--json'], options).values).toEqual({ value: '--json' });
  });

  it('still refuses an unknown long option, and takes what follows "--" as it is', () => {
    expect(() => parse(['--chose', 'incoming'], options)).toThrow(UsageError);
    expect(parse(['--', '--chose', '-x'], options).positionals).toEqual(['--chose', '-x']);
  });
});

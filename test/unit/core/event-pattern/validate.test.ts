import { describe, expect, it } from 'vitest';
import { compilePattern, validatePattern } from '../../../../functions/core/event-pattern';

describe('validatePattern', () => {
  it('accepts every documented form', () => {
    // Prepare
    const pattern = {
      time: [{ prefix: '2017-10-02' }],
      name: [{ suffix: { 'equals-ignore-case': '.PNG' } }],
      detail: {
        state: [{ 'anything-but': { prefix: 'init' } }, 'running', null, true, 1],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        ip: [{ cidr: '10.0.0.0/24' }],
        path: [{ wildcard: 'dir/*.png' }],
        gone: [{ exists: false }],
        $or: [{ a: ['x'] }, { b: [{ 'equals-ignore-case': 'Y' }] }],
      },
    };

    // Act
    const problems = validatePattern(pattern);

    // Assess
    expect(problems).toEqual([]);
  });

  it('refuses what EventBridge refuses: an empty anything-but prefix or suffix, and a numeric range with equal bounds', () => {
    // Act
    const problems = validatePattern({
      a: [{ 'anything-but': { prefix: '' } }],
      b: [{ 'anything-but': { suffix: ['x', ''] } }],
      c: [{ numeric: ['>=', 5, '<=', 5] }],
      d: [{ numeric: ['>', 1, '<', 2] }],
    });

    // Assess
    expect(problems).toEqual([
      'a[0].anything-but.prefix: must not be empty',
      'b[0].anything-but.suffix: must not be empty',
      'c[0].numeric: the lower bound must be below the upper bound',
    ]);
  });

  it('names the path and the problem of each invalid part', () => {
    // Prepare
    const pattern = {
      source: 'aws.ec2',
      detail: {
        state: [{ contains: 'x' }],
        count: [{ numeric: ['>>', 1] }],
        path: [{ wildcard: 'a**b' }],
        ip: [{ cidr: '10.0.0.0/33' }],
        flag: [{ exists: 'yes' }],
        other: [{ 'anything-but': ['a', 1] }],
        $or: [{ a: ['x'] }],
      },
    };

    // Act
    const problems = validatePattern(pattern);

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(/^source: must be an array/),
      'detail.state[0]: unknown operator "contains"',
      expect.stringMatching(/^detail\.count\[0\]\.numeric\[0\]: unknown comparison/),
      expect.stringMatching(/^detail\.path\[0\]\.wildcard: consecutive wildcard/),
      expect.stringMatching(/^detail\.ip\[0\]\.cidr: /),
      expect.stringMatching(/^detail\.flag\[0\]\.exists: must be true or false/),
      expect.stringMatching(/^detail\.other\[0\]\.anything-but: a list must/),
      expect.stringMatching(/^detail\.\$or: must be an array of at least two patterns/),
    ]);
  });

  it('refuses to compile an invalid pattern rather than match silently', () => {
    // Prepare
    const pattern = { source: [{ regex: '.*' }] };

    // Act
    const compile = () => compilePattern(pattern);

    // Assess
    expect(compile).toThrow(/unknown operator "regex"/);
  });
});

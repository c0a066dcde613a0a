import { describe, expect, it } from 'vitest';
import { compilePattern, matchesPattern, validatePattern } from '../../../functions/core/event-pattern';

// Example events and patterns from the EventBridge user guide ("Event patterns",
// "Content filtering in Amazon EventBridge event patterns", "Arrays", "Null values").
const ec2Event = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...ec2Event, detail: { ...ec2Event.detail, ...detail } });

describe('matchesPattern: exact values', () => {
  it('matches source, detail-type and a nested detail field together', () => {
    // Prepare
    const pattern = {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    };

    // Act
    const terminated = matchesPattern(pattern, withDetail({ state: 'terminated' }));
    const running = matchesPattern(pattern, ec2Event);

    // Assess
    expect(terminated).toBe(true);
    expect(running).toBe(false);
  });

  it('treats values in a leaf array as OR', () => {
    // Prepare
    const pattern = { detail: { state: ['initializing', 'running'] } };

    // Act
    const results = ['initializing', 'running', 'stopped'].map((state) => matchesPattern(pattern, withDetail({ state })));

    // Assess
    expect(results).toEqual([true, true, false]);
  });

  it('matches an event array when any element matches any pattern value', () => {
    // Prepare
    const pattern = {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
      ],
    };
    const event = {
      resources: [
        'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      ],
    };

    // Act
    const matched = matchesPattern(pattern, event);
    const unmatched = matchesPattern(pattern, { resources: [event.resources[0]] });

    // Assess
    expect(matched).toBe(true);
    expect(unmatched).toBe(false);
  });

  it('tells null and the empty string apart', () => {
    // Prepare
    const event = { source: 'aws.autoscaling', resources: [], detail: { eventVersion: '', responseElements: null } };

    // Act
    const emptyString = matchesPattern({ detail: { eventVersion: [''] } }, event);
    const nullValue = matchesPattern({ detail: { responseElements: [null] } }, event);
    const emptyIsNotNull = matchesPattern({ detail: { responseElements: [''] } }, event);

    // Assess
    expect(emptyString).toBe(true);
    expect(nullValue).toBe(true);
    expect(emptyIsNotNull).toBe(false);
  });

  it('does not confuse a number, a boolean and their string forms', () => {
    // Prepare
    const event = { n: 5, b: true, s: '5' };

    // Act
    const results = [
      matchesPattern({ n: [5] }, event),
      matchesPattern({ n: ['5'] }, event),
      matchesPattern({ b: [true] }, event),
      matchesPattern({ b: ['true'] }, event),
      matchesPattern({ s: [5] }, event),
    ];

    // Assess
    expect(results).toEqual([true, false, true, false, false]);
  });

  it('matches nested fields inside an array of objects within one element', () => {
    // Prepare
    const event = {
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    };

    // Act
    const anna = matchesPattern({ employees: { firstName: ['Anna'] } }, event);
    const annaSmith = matchesPattern({ employees: { firstName: ['Anna'], lastName: ['Smith'] } }, event);
    const annaJones = matchesPattern({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, event);

    // Assess
    expect(anna).toBe(true);
    expect(annaSmith).toBe(true);
    expect(annaJones).toBe(false);
  });
});

describe('matchesPattern: string operators', () => {
  it('matches a prefix, optionally ignoring case', () => {
    // Prepare
    const event = { time: '2017-10-02T18:43:48Z', detail: { service: 'eventbridge' } };

    // Act
    const prefix = matchesPattern({ time: [{ prefix: '2017-10-02' }] }, event);
    const otherDay = matchesPattern({ time: [{ prefix: '2017-10-03' }] }, event);
    const ignoreCase = matchesPattern({ detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } }, event);

    // Assess
    expect(prefix).toBe(true);
    expect(otherDay).toBe(false);
    expect(ignoreCase).toBe(true);
  });

  it('matches a suffix, optionally ignoring case', () => {
    // Prepare
    const png = { FileName: 'image.png', detail: { FileName: 'IMAGE.PNG' } };

    // Act
    const suffix = matchesPattern({ FileName: [{ suffix: '.png' }] }, png);
    const caseSensitive = matchesPattern({ detail: { FileName: [{ suffix: '.png' }] } }, png);
    const ignoreCase = matchesPattern({ detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, png);

    // Assess
    expect(suffix).toBe(true);
    expect(caseSensitive).toBe(false);
    expect(ignoreCase).toBe(true);
  });

  it('matches equals-ignore-case', () => {
    // Prepare
    const pattern = { detail: { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance state-change notification' }] } };

    // Act
    const matched = matchesPattern(pattern, { detail: { 'detail-type': 'EC2 Instance State-change Notification' } });

    // Assess
    expect(matched).toBe(true);
  });

  it('matches wildcards, with \\* standing for a literal asterisk', () => {
    // Prepare
    const arnPattern = { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] };
    const literalStar = { note: [{ wildcard: 'a\\*b*' }] };

    // Act
    const arn = matchesPattern(arnPattern, { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/orders' });
    const otherRegion = matchesPattern(arnPattern, { EventBusArn: 'arn:aws:events:eu-west-1:123456789012:event-bus/orders' });
    const star = matchesPattern(literalStar, { note: 'a*b-and-more' });
    const noStar = matchesPattern(literalStar, { note: 'axb-and-more' });

    // Assess
    expect(arn).toBe(true);
    expect(otherRegion).toBe(false);
    expect(star).toBe(true);
    expect(noStar).toBe(false);
  });
});

describe('matchesPattern: anything-but', () => {
  it('excludes a single string or number', () => {
    // Prepare
    const byState = { detail: { state: [{ 'anything-but': 'initializing' }] } };
    const byLimit = { detail: { 'x-limit': [{ 'anything-but': 123 }] } };

    // Act
    const results = [
      matchesPattern(byState, ec2Event),
      matchesPattern(byState, withDetail({ state: 'initializing' })),
      matchesPattern(byLimit, ec2Event),
      matchesPattern(byLimit, withDetail({ 'x-limit': 123 })),
    ];

    // Assess
    expect(results).toEqual([true, false, true, false]);
  });

  it('excludes a list of strings or numbers', () => {
    // Prepare
    const states = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
    const limits = { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } };

    // Act
    const results = [
      matchesPattern(states, ec2Event),
      matchesPattern(states, withDetail({ state: 'overloaded' })),
      matchesPattern(limits, ec2Event),
      matchesPattern(limits, withDetail({ 'x-limit': 200 })),
    ];

    // Assess
    expect(results).toEqual([true, false, true, false]);
  });

  it('excludes by prefix, suffix, ignoring case and wildcard', () => {
    // Prepare
    const notInit = { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } };
    const notPng = { FileName: [{ 'anything-but': { suffix: '.png' } }] };
    const notInitializing = { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] };
    const notLib = { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] };

    // Act
    const results = [
      matchesPattern(notInit, ec2Event),
      matchesPattern(notInit, withDetail({ state: 'initializing' })),
      matchesPattern(notPng, { FileName: 'photo.jpg' }),
      matchesPattern(notPng, { FileName: 'photo.png' }),
      matchesPattern(notInitializing, { state: 'INITIALIZING' }),
      matchesPattern(notLib, { FilePath: '/usr/src/main.ts' }),
      matchesPattern(notLib, { FilePath: '/usr/lib/libc.so' }),
    ];

    // Assess
    expect(results).toEqual([true, false, true, false, false, true, false]);
  });

  it('never matches a missing field', () => {
    // Prepare
    const pattern = { detail: { mood: [{ 'anything-but': 'sad' }] } };

    // Act
    const matched = matchesPattern(pattern, ec2Event);

    // Assess
    expect(matched).toBe(false);
  });
});

describe('matchesPattern: numeric and cidr', () => {
  it('matches numeric ranges and equality, all fields together', () => {
    // Prepare
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };

    // Act
    const matched = matchesPattern(pattern, ec2Event);
    const cCountTooHigh = matchesPattern(pattern, withDetail({ 'c-count': 6 }));
    const cCountZero = matchesPattern(pattern, withDetail({ 'c-count': 0 }));
    const stringNumber = matchesPattern(pattern, withDetail({ 'd-count': '3' }));

    // Assess
    expect(matched).toBe(true);
    expect(cCountTooHigh).toBe(false);
    expect(cCountZero).toBe(false);
    expect(stringNumber).toBe(false);
  });

  it('matches IPv4 and IPv6 addresses inside a CIDR block', () => {
    // Prepare
    const v4 = { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } };
    const v6 = { ip: [{ cidr: '2001:db8::/32' }] };

    // Act
    const results = [
      matchesPattern(v4, ec2Event),
      matchesPattern(v4, withDetail({ 'source-ip': '10.0.1.33' })),
      matchesPattern(v4, withDetail({ 'source-ip': 'not-an-ip' })),
      matchesPattern(v6, { ip: '2001:db8:0:1::42' }),
      matchesPattern(v6, { ip: '2001:db9::1' }),
    ];

    // Assess
    expect(results).toEqual([true, false, false, true, false]);
  });

  it('matches the documented complex example that combines operators', () => {
    // Prepare
    const pattern = {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
        'source-ip': [{ cidr: '10.0.0.0/8' }],
      },
    };

    // Act
    const matched = matchesPattern(pattern, ec2Event);
    const initializing = matchesPattern(pattern, withDetail({ state: 'initializing' }));

    // Assess
    expect(matched).toBe(true);
    expect(initializing).toBe(false);
  });
});

describe('matchesPattern: exists', () => {
  it('exists: true matches a present leaf field, including null, and not a missing one', () => {
    // Prepare
    const pattern = { detail: { state: [{ exists: true }] } };
    const noState = {
      'detail-type': 'EC2 Instance State-change Notification',
      detail: { 'c-count': { c1: 100 } },
    };

    // Act
    const present = matchesPattern(pattern, ec2Event);
    const missing = matchesPattern(pattern, noState);
    const nullValue = matchesPattern(pattern, { detail: { state: null } });

    // Assess
    expect(present).toBe(true);
    expect(missing).toBe(false);
    expect(nullValue).toBe(true);
  });

  it('exists: false matches a missing field, and a field that is not a leaf', () => {
    // Prepare
    const pattern = { detail: { 'c-count': [{ exists: false }] } };

    // Act
    const missing = matchesPattern(pattern, { detail: { state: ['initializing', 'running'] } });
    const intermediate = matchesPattern(pattern, { detail: { state: ['initializing', 'running'], 'c-count': { c1: 100 } } });
    const present = matchesPattern(pattern, ec2Event);
    const noDetailAtAll = matchesPattern(pattern, { source: 'aws.ec2' });

    // Assess
    expect(missing).toBe(true);
    expect(intermediate).toBe(true);
    expect(present).toBe(false);
    expect(noDetailAtAll).toBe(true);
  });

  it('an empty array has no leaf values, so it does not "exist"', () => {
    // Prepare
    const event = { resources: [] };

    // Act
    const existsTrue = matchesPattern({ resources: [{ exists: true }] }, event);
    const existsFalse = matchesPattern({ resources: [{ exists: false }] }, event);

    // Assess
    expect(existsTrue).toBe(false);
    expect(existsFalse).toBe(true);
  });
});

describe('matchesPattern: $or', () => {
  it('matches when any alternative matches, alongside the other fields', () => {
    // Prepare
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    };

    // Act
    const byMetric = matchesPattern(pattern, { source: 'aws.cloudwatch', metricName: 'ReadLatency' });
    const byNamespace = matchesPattern(pattern, { source: 'aws.cloudwatch', namespace: 'AWS/ES' });
    const neither = matchesPattern(pattern, { source: 'aws.cloudwatch', metricName: 'WriteLatency' });
    const wrongSource = matchesPattern(pattern, { source: 'aws.ec2', metricName: 'ReadLatency' });

    // Assess
    expect([byMetric, byNamespace, neither, wrongSource]).toEqual([true, true, false, false]);
  });

  it('supports $or at a nested level and an $or nested in an alternative', () => {
    // Prepare
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['CPUUtilization'] },
        { metricType: ['MetricType'], namespace: ['AWS/EC2'], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
      ],
      detail: { $or: [{ state: ['ALARM'] }, { previousState: ['ALARM'] }] },
    };
    const base = { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', detail: { state: 'OK', previousState: 'ALARM' } };

    // Act
    const bySpaceId = matchesPattern(pattern, { ...base, spaceId: 1000 });
    const noInnerAlternative = matchesPattern(pattern, { ...base, spaceId: 9 });
    const noDetailAlternative = matchesPattern(pattern, { ...base, spaceId: 1000, detail: { state: 'OK', previousState: 'OK' } });

    // Assess
    expect(bySpaceId).toBe(true);
    expect(noInnerAlternative).toBe(false);
    expect(noDetailAlternative).toBe(false);
  });
});

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

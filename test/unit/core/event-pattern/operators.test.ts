import { describe, expect, it } from 'vitest';
import { matchesPattern, validatePattern } from '../../../../functions/core/event-pattern';
import { ec2Event, withDetail } from '../../../fixtures/ec2-event';

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

  it('keeps CIDR families apart and takes only plain IP literals', () => {
    // Prepare
    const v4 = { ip: [{ cidr: '10.0.0.0/24' }] };
    const mapped = { ip: [{ cidr: '::ffff:10.0.0.0/120' }] };

    // Act
    const results = [
      matchesPattern(v4, { ip: '::ffff:10.0.0.5' }),
      matchesPattern(mapped, { ip: '10.0.0.5' }),
      matchesPattern(mapped, { ip: '::ffff:10.0.0.5' }),
      matchesPattern(v4, { ip: '010.0.0.5' }),
      matchesPattern({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db8::1%eth0' }),
      matchesPattern({ ip: [{ cidr: '10.0.0.5' }] }, { ip: '10.0.0.5' }),
    ];

    // Assess
    expect(results).toEqual([false, false, true, false, false, true]);
    expect(validatePattern({ ip: [{ cidr: '010.0.0.0/8' }] })).toEqual([expect.stringMatching(/^ip\[0\]\.cidr: /)]);
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

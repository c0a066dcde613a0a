import { describe, expect, it } from 'vitest';
import { matchesPattern } from '../../../../functions/core/event-pattern';
import { ec2Event, withDetail } from '../../../fixtures/ec2-event';

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

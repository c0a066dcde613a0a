import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../lib/config/load';

function configWith(conflict: Record<string, unknown>) {
  return {
    flows: [
      {
        id: 'people',
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook' },
          { id: 'erp', type: 'webhook' },
        ],
        conflict,
        targets: [{ id: 'replica', type: 'dynamodb' }],
      },
    ],
  };
}

/** The problems parseConfig reports, as "path: message". */
function problems(conflict: Record<string, unknown>): string[] {
  try {
    parseConfig(configWith(conflict));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('conflict config: auto-resolve and the ConflictOpened bus', () => {
  it('accepts a manual flow with autoResolveAfter, autoResolveWith and a bus', () => {
    // Act
    const config = parseConfig(configWith({ strategy: 'manual', autoResolveAfter: '2 hours', autoResolveWith: 'lww', eventBusName: 'reviews' }));

    // Assess
    expect(config.flows[0]!.conflict).toMatchObject({ strategy: 'manual', autoResolveAfter: '2 hours', autoResolveWith: 'lww', eventBusName: 'reviews' });
    expect(problems({ strategy: 'manual', autoResolveAfter: '5 seconds', autoResolveWith: 'priority', priority: { '*': ['erp'] } })).toEqual([]);
    expect(problems({ strategy: 'manual', eventBusName: 'arn:aws:events:eu-west-1:123456789012:event-bus/reviews' })).toEqual([]);
  });

  it('needs autoResolveWith with autoResolveAfter and the other way round', () => {
    expect(problems({ strategy: 'manual', autoResolveAfter: '1 hour' })).toEqual([
      expect.stringMatching(/^\$\.flows\[0\]\.conflict\.autoResolveWith: autoResolveAfter needs autoResolveWith/),
    ]);
    expect(problems({ strategy: 'manual', autoResolveWith: 'lww' })).toEqual([
      expect.stringMatching(/^\$\.flows\[0\]\.conflict\.autoResolveAfter: autoResolveWith needs autoResolveAfter/),
    ]);
  });

  it('refuses the manual-only fields with another strategy, naming each', () => {
    expect(problems({ strategy: 'field-lww', autoResolveAfter: '1 hour', autoResolveWith: 'lww', eventBusName: 'reviews' })).toEqual([
      '$.flows[0].conflict.autoResolveAfter: applies only to strategy "manual" (this flow uses "field-lww")',
      '$.flows[0].conflict.autoResolveWith: applies only to strategy "manual" (this flow uses "field-lww")',
      '$.flows[0].conflict.eventBusName: applies only to strategy "manual" (this flow uses "field-lww")',
    ]);
  });

  it('needs a priority map to fall back to priority', () => {
    expect(problems({ strategy: 'manual', autoResolveAfter: '1 hour', autoResolveWith: 'priority' })).toEqual([
      '$.flows[0].conflict.priority: autoResolveWith "priority" needs a priority map such as {"*": ["crm", "erp"]}',
    ]);
  });

  it('refuses a bad duration, an unknown fallback and a bus that is neither a name nor an ARN', () => {
    const found = problems({ strategy: 'manual', autoResolveAfter: 'soon', autoResolveWith: 'newest', eventBusName: 'arn:aws:sns:us-east-1:123456789012:topic' });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\$\.flows\[0\]\.conflict\.autoResolveAfter: must be a duration/),
        expect.stringMatching(/^\$\.flows\[0\]\.conflict\.autoResolveWith: /),
        '$.flows[0].conflict.eventBusName: must be an EventBridge bus name or ARN',
      ]),
    );
  });

  it('still needs a priority map for strategy priority', () => {
    expect(problems({ strategy: 'priority' })).toEqual(['$.flows[0].conflict.priority: strategy "priority" needs a priority map such as {"*": ["crm", "erp"]}']);
  });
});

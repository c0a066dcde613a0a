import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { schedulerCron } from '../../functions/config/cron';
import { parseConfig } from '../../lib/config/load';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { REPO_ROOT, exampleConfigInput, synthStack } from './helpers';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const section = (title: string) => readme.slice(readme.indexOf(`\n## ${title}\n`), readme.indexOf('\n## ', readme.indexOf(`\n## ${title}\n`) + 1));

/** The target examples of the README's Targets section: every ```json block that is one target object. */
function readmeTargets(): Record<string, unknown>[] {
  return [...section('Targets').matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => {
      try {
        return JSON.parse(m[1]!) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    })
    .filter((t): t is Record<string, unknown> => Boolean(t && typeof t.type === 'string'));
}

/** The README's cron conversions: `"<unix>"` ... becomes `cron(...)`. */
const cronClaims = () => [...readme.matchAll(/`"([^"`]+)"`[^`]*? becomes `(cron\([^`]+\))`/g)].map((m) => [m[1]!, m[2]!] as const);

let stack: SyncStack;
let template: Template;

beforeAll(() => {
  const targets = readmeTargets();
  const crons = cronClaims();
  const config = parseConfig({
    ...exampleConfigInput(),
    flows: [
      {
        id: 'readme',
        key: ['id'],
        sources: [
          { id: 'crm', type: 'webhook' },
          ...crons.map(([unix], i) => ({ id: `pull-${i}`, type: 'schedule', cron: unix, http: { url: 'https://api.example.com/v1/products' } })),
        ],
        targets: targets.map((t, i) => ({ ...t, id: `${String(t.id)}-${i}` })),
      },
    ],
  });
  ({ stack, template } = synthStack(config, 'Readme'));
});

describe("the README's examples", () => {
  it('include the cross-account table, the rate-limited HTTP target, the KMS queue and the cron conversions', () => {
    const targets = readmeTargets();
    expect(targets.map((t) => t.type)).toEqual(expect.arrayContaining(['dynamodb', 'http', 'sqs']));
    expect(targets.some((t) => String(t.tableName).startsWith('arn:aws:dynamodb:'))).toBe(true);
    expect(targets.some((t) => typeof t.rateLimitPerSecond === 'number')).toBe(true);
    expect(cronClaims().length).toBeGreaterThanOrEqual(3);
  });

  it('convert each cron as the README says', () => {
    for (const [unix, expected] of cronClaims()) expect(schedulerCron(unix), unix).toBe(expected);
  });

  it('synthesize to what AWS accepts: schedules with one "?" day field, a MaximumConcurrency of at least 2, the table by ARN', () => {
    const expressions = Object.values(template.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties.ScheduleExpression as string);
    expect(expressions.length).toBeGreaterThanOrEqual(cronClaims().length);
    for (const e of expressions.filter((x) => x.startsWith('cron('))) {
      const [, , dom, , dow] = e.slice(5, -1).split(' ');
      expect([dom, dow].filter((f) => f === '?'), e).toHaveLength(1);
      expect(dow, e).not.toContain('/');
    }
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).map((r) => r.Properties.ScalingConfig?.MaximumConcurrency).filter((c) => c !== undefined);
    expect(mappings.length).toBeGreaterThan(0);
    for (const c of mappings) expect(c).toBeGreaterThanOrEqual(2);
    const fns = Object.values(template.findResources('AWS::Lambda::Function')).map((r) => r.Properties);
    for (const f of fns) expect(f.ReservedConcurrentExecutions).toBeUndefined();
    expect(fns.some((f) => f.Environment?.Variables?.TARGET_TABLE === 'arn:aws:dynamodb:eu-west-1:111122223333:table/people')).toBe(true);
  });

  it('pass cdk-nag', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((x) => x.constructPath).join(', ')}`)).toEqual([]);
  });
});

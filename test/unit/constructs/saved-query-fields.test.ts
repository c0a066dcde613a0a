import { QueryString } from 'aws-cdk-lib/aws-logs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decisionLogFields } from '../../../functions/adapters/dynamodb-audit-log';
import { powertoolsLogPort } from '../../../functions/adapters/powertools-telemetry';
import { observability } from '../../../functions/entry/env';
import { reportDeliveries } from '../../../functions/handlers/delivery-batch';
import { safeErrorText } from '../../../functions/core/error-text';
import type { AuditEntry, MetricsPort } from '../../../functions/ports';
import { SAVED_QUERIES } from '../../../lib/constructs/observability';
import { contactsFlow } from '../../fixtures/flows';

/** Words of the query language, not fields. */
const KEYWORDS = new Set(['fields', 'filter', 'stats', 'sort', 'limit', 'by', 'as', 'and', 'or', 'not', 'like', 'in', 'asc', 'desc', 'count', 'latest', 'coalesce', 'ispresent', 'display']);

/** The log fields a query reads: identifiers outside string and regex literals, less keywords, aliases and @-fields. */
function fieldsOf(query: string): string[] {
  const text = query.replace(/"(?:[^"\\]|\\.)*"/g, ' ').replace(/\/(?:[^/\\]|\\.)+\//g, ' ');
  const aliases = new Set([...text.matchAll(/\bas\s+([A-Za-z_]\w*)/g)].map((m) => m[1]!));
  const words = [...text.matchAll(/[@A-Za-z_][\w.@]*/g)].map((m) => m[0]).filter((w) => !w.startsWith('@') && !KEYWORDS.has(w) && !aliases.has(w) && !/^\d/.test(w));
  return [...new Set(words)].sort();
}

/** Every key of the JSON lines written, nested keys as `a.b`. */
function keysOf(lines: string[]): Set<string> {
  const keys = new Set<string>();
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      keys.add(prefix + k);
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, `${prefix}${k}.`);
    }
  };
  for (const line of lines) {
    try {
      walk(JSON.parse(line), '');
    } catch {
      // not a log line
    }
  }
  return keys;
}

const noMetrics: MetricsPort = { count: () => undefined, lagMs: () => undefined } as unknown as MetricsPort;
let written: string[];

beforeEach(() => {
  written = [];
  const capture = (chunk: unknown) => {
    written.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture as never);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture as never);
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(' ')));
});
afterEach(() => vi.restoreAllMocks());

describe('the saved Logs Insights queries', () => {
  it('read only fields the functions log', () => {
    // Prepare: what the functions log, through the same Powertools logger they use: a decision line per audit
    // entry (each outcome), a delivery batch with its slowest record, and a warning about a failed record.
    const { logger } = observability(contactsFlow, 'deliver');
    logger.addContext({ functionName: 'syncline-deliver', awsRequestId: 'r-1', invokedFunctionArn: 'arn', memoryLimitInMB: '128', functionVersion: '1', getRemainingTimeInMillis: () => 1000 } as never);
    logger.setCorrelationId('evt-1');
    const log = powertoolsLogPort(logger);
    const entry: AuditEntry = { flow: contactsFlow.id, key: 'c-1', step: 'transform', at: 1, source: 'crm', eventId: 'evt-1', outcome: 'quarantined', reason: 'schema: email is required' };
    log.info('decision', decisionLogFields(entry));
    log.info('decision', decisionLogFields({ ...entry, step: 'deliver', outcome: 'delivered', reason: undefined, target: 'replica', version: 3 }));
    reportDeliveries({ logger: log, metrics: noMetrics }, { flow: contactsFlow.id, target: 'replica', messages: 1, keys: 1, now: 10_000 }, [{ key: 'c-1', version: 3, ts: 1 }], { skipped: 0, failed: 0 });
    log.warn('record failed', { messageIds: ['m-1'], error: safeErrorText(new Error('boom')) });
    const logged = keysOf(written);
    expect(logged.size).toBeGreaterThan(5);

    // Act / Assess
    for (const [id, { query }] of Object.entries(SAVED_QUERIES)) {
      const fields = fieldsOf(new QueryString(query).toString());
      expect(fields.length, id).toBeGreaterThan(0);
      expect(fields.filter((f) => !logged.has(f)), `${id} reads fields no function logs`).toEqual([]);
    }
  });

  it('never log record values in a decision line', () => {
    const fields = decisionLogFields({ flow: 'f', key: 'k', step: 'resolve', at: 1, source: 's', eventId: 'e', outcome: 'won', detail: { email: 'ada@example.com' } });
    expect(JSON.stringify(fields)).not.toContain('ada@example.com');
  });
});

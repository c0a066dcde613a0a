import { describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../../functions/core/envelope';
import { autoResolveChoice, mergeChanges, type Clock, type Conflict } from '../../../../functions/core/merge';
import { flowSchema, type FlowConfig } from '../../../../functions/config/schema';

function manualFlow(conflict: Record<string, unknown> = {}): FlowConfig {
  return flowSchema.parse({
    id: 'people',
    key: ['id'],
    sources: ['crm', 'erp', 'web'].map((id) => ({ id, type: 'webhook' })),
    targets: [{ id: 'out', type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:123456789012:out' }],
    conflict: { strategy: 'manual', ...conflict },
  });
}

const clock = (src: string, ts: number, seq = '1', id = `${src}-${ts}-${seq}`): Clock => ({ ts, src, seq, id });

function conflictOf(field: string, current: [Clock, unknown], incoming: [Clock, unknown]): Conflict {
  return {
    id: 'c1',
    flow: 'people',
    key: 'p1',
    field,
    current: { value: current[1], source: current[0].src, clock: current[0] },
    incoming: { value: incoming[1], source: incoming[0].src, clock: incoming[0] },
  };
}

/** The value the named strategy keeps when both sides are merged as plain changes. */
function mergedBy(strategy: 'field-lww' | 'priority', flow: FlowConfig, c: Conflict): unknown {
  const asChange = (side: Conflict['current']): ChangeEnvelope => ({
    v: 1,
    id: side.clock.id,
    flow: 'people',
    source: side.source,
    key: 'p1',
    op: 'upsert',
    data: { [c.field]: side.value },
    ts: side.clock.ts,
    seq: side.clock.seq,
    lineage: [],
  });
  const other = flowSchema.parse({ ...flow, conflict: { strategy, ...(flow.conflict.priority ? { priority: flow.conflict.priority } : {}), ...(flow.conflict.sourceOrder ? { sourceOrder: flow.conflict.sourceOrder } : {}) } });
  return mergeChanges(other, undefined, [asChange(c.current), asChange(c.incoming)]).view.data?.[c.field];
}

describe('autoResolveChoice with lww', () => {
  const flow = manualFlow();

  it('keeps the newer side by ts, whichever side it is', () => {
    expect(autoResolveChoice(flow, conflictOf('email', [clock('crm', 1000), 'a'], [clock('erp', 2000), 'b']), 'lww')).toEqual({ choose: 'incoming' });
    expect(autoResolveChoice(flow, conflictOf('email', [clock('erp', 3000), 'a'], [clock('crm', 2000), 'b']), 'lww')).toEqual({ choose: 'current' });
  });

  it('breaks a ts tie by the order of sources, or by sourceOrder when given', () => {
    const tie = conflictOf('email', [clock('erp', 1000), 'a'], [clock('crm', 1000), 'b']);
    expect(autoResolveChoice(flow, tie, 'lww')).toEqual({ choose: 'incoming' });
    expect(autoResolveChoice(manualFlow({ sourceOrder: ['erp', 'crm'] }), tie, 'lww')).toEqual({ choose: 'current' });
  });

  it('breaks a tie of ts and source by seq, numerically', () => {
    const c = conflictOf('email', [clock('crm', 1000, '10'), 'a'], [clock('crm', 1000, '9'), 'b']);
    expect(autoResolveChoice(flow, c, 'lww')).toEqual({ choose: 'current' });
  });

  it.each([
    ['newer incoming', conflictOf('email', [clock('crm', 1000), 'a'], [clock('erp', 2000), 'b'])],
    ['newer current', conflictOf('email', [clock('web', 5000), 'a'], [clock('crm', 2000), 'b'])],
    ['ts tie', conflictOf('email', [clock('web', 1000), 'a'], [clock('erp', 1000), 'b'])],
  ])('keeps what field-lww merges (%s)', (_name, c) => {
    const chosen = autoResolveChoice(flow, c, 'lww').choose;
    expect(c[chosen].value).toBe(mergedBy('field-lww', flow, c));
  });
});

describe('autoResolveChoice with priority', () => {
  const flow = manualFlow({ priority: { '*': ['crm', 'erp'], email: ['erp'] } });

  it("ranks by the field's own list over ts", () => {
    const c = conflictOf('email', [clock('erp', 1000), 'a'], [clock('crm', 9000), 'b']);
    expect(autoResolveChoice(flow, c, 'priority')).toEqual({ choose: 'current' });
  });

  it('falls back to the "*" list for a field without one', () => {
    const c = conflictOf('phone', [clock('crm', 1000), 'a'], [clock('erp', 9000), 'b']);
    expect(autoResolveChoice(flow, c, 'priority')).toEqual({ choose: 'current' });
  });

  it('ranks a source missing from the list below every listed one', () => {
    const c = conflictOf('email', [clock('crm', 9000), 'a'], [clock('erp', 1000), 'b']);
    expect(autoResolveChoice(flow, c, 'priority')).toEqual({ choose: 'incoming' });
  });

  it('uses lww within equal rank (two unlisted sources)', () => {
    const ranked = manualFlow({ priority: { email: ['erp'] } });
    expect(autoResolveChoice(ranked, conflictOf('name', [clock('crm', 1000), 'a'], [clock('web', 2000), 'b']), 'priority')).toEqual({ choose: 'incoming' });
    expect(autoResolveChoice(ranked, conflictOf('name', [clock('web', 1000), 'a'], [clock('crm', 1000), 'b']), 'priority')).toEqual({ choose: 'incoming' });
  });

  it.each([
    ['field list', conflictOf('email', [clock('erp', 1000), 'a'], [clock('crm', 9000), 'b'])],
    ['"*" list', conflictOf('phone', [clock('erp', 1000), 'a'], [clock('crm', 9000), 'b'])],
    ['unlisted source', conflictOf('email', [clock('crm', 9000), 'a'], [clock('web', 1000), 'b'])],
  ])('keeps what the priority strategy merges (%s)', (_name, c) => {
    const chosen = autoResolveChoice(flow, c, 'priority').choose;
    expect(c[chosen].value).toBe(mergedBy('priority', flow, c));
  });
});

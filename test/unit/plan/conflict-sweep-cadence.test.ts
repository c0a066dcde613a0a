import { describe, expect, it } from 'vitest';
import { LocalTimer } from '../../../lib/local/scheduler';
import { localSweepEveryMs } from '../../../lib/local/runtime';
import { conflictSweepEvery, planFlow } from '../../../functions/plan/plan';
import { flowSchema, type FlowConfig } from '../../../functions/config/schema';
import { waitFor } from '../../support/local-servers';

const flowWith = (conflict: Record<string, unknown>): FlowConfig =>
  flowSchema.parse({
    id: 'people',
    key: ['id'],
    sources: [{ id: 'crm', type: 'webhook' }],
    conflict,
    targets: [{ id: 'replica', type: 'dynamodb' }],
  });
const auto = (after: string) => flowWith({ strategy: 'manual', autoResolveAfter: after, autoResolveWith: 'lww' });

describe('conflict sweep cadence', () => {
  it('plans a sweep function for manual flows only, sending to the resolve queue', () => {
    const sweep = planFlow(flowWith({ strategy: 'manual' })).functions.find((f) => f.handler === 'conflict-sweep');
    expect(sweep).toMatchObject({ id: 'conflict-sweep', name: 'people-conflict-sweep', step: 'review', sendsTo: ['resolve'], trigger: { type: 'schedule', every: '5 minutes' } });
    expect(planFlow(flowWith({ strategy: 'field-lww' })).functions.some((f) => f.handler === 'conflict-sweep')).toBe(false);
  });

  it('runs every minute in AWS below a 10-minute autoResolveAfter, else every 5 minutes', () => {
    expect(conflictSweepEvery(auto('5 seconds'))).toBe('1 minute');
    expect(conflictSweepEvery(auto('9 minutes'))).toBe('1 minute');
    expect(conflictSweepEvery(auto('10 minutes'))).toBe('5 minutes');
    expect(conflictSweepEvery(auto('2 days'))).toBe('5 minutes');
    expect(conflictSweepEvery(flowWith({ strategy: 'manual' }))).toBe('5 minutes');
  });

  it('runs locally at half of autoResolveAfter, between 1 s and 60 s, and every 60 s without it', () => {
    expect(localSweepEveryMs(auto('5 seconds'))).toBe(2_500);
    expect(localSweepEveryMs(auto('1 s'))).toBe(1_000);
    expect(localSweepEveryMs(auto('1 hour'))).toBe(60_000);
    expect(localSweepEveryMs(flowWith({ strategy: 'manual' }))).toBe(60_000);
  });
});

describe('LocalTimer', () => {
  it('runs one at a time, counts as busy while running, survives a failed run, and stop waits for the run in progress', async () => {
    // Prepare: the first run fails, the second waits to be released.
    const logs: string[] = [];
    let calls = 0;
    let release: () => void = () => undefined;
    const timer = new LocalTimer({
      name: 'people-conflict-sweep',
      everyMs: 5,
      log: (l) => logs.push(l),
      run: async () => {
        calls++;
        if (calls === 1) throw new Error('table not there yet');
        await new Promise<void>((r) => (release = r));
      },
    });

    // Act
    timer.start();
    await waitFor(() => (calls === 2 ? true : undefined), 'second run');
    const idleWhileRunning = timer.idle();
    let stopped = false;
    const stopping = timer.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    const stoppedBeforeRelease = stopped;
    release();
    await stopping;

    // Assess
    expect(logs).toEqual(['[people-conflict-sweep] failed: table not there yet']);
    expect(idleWhileRunning).toBe(false);
    expect(stoppedBeforeRelease).toBe(false);
    expect(timer.idle()).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { evaluate } from './schedule.ts';
import { kubeTime, nextStatus, planReconcile, sameStatus } from './schedule-plan.ts';

// Asleep Sunday 01:00-04:00 Berlin time.
const berlinSundayNight = {
  apiVersion: 'clusteropt.io/v1alpha1',
  kind: 'HibernationSchedule',
  metadata: { name: 'n', generation: 1 },
  spec: {
    timezone: 'Europe/Berlin',
    namespaceSelector: {},
    windows: [{ days: ['Sun'], from: '01:00', to: '04:00' }],
  },
};

describe('planReconcile', () => {
  it('asks for a sleep pass when the schedule says asleep and status is not Asleep', () => {
    const plan = planReconcile(berlinSundayNight, new Date('2026-03-29T00:30:00Z'));
    expect(plan).toMatchObject({ kind: 'asleep', sleepPass: 'transition' });
    if (plan.kind !== 'asleep') throw new Error('unreachable');
    // Spring forward: 01:00 CET .. 04:00 CEST is two real hours.
    expect(plan.evaluation.nextTransition?.toISOString()).toBe('2026-03-29T02:00:00.000Z');
    expect(plan.summary).toBe('Sun 01:00-04:00');
  });

  it('no sleep pass while Asleep, a refresh when a whole awake period was missed', () => {
    const asleep = {
      ...berlinSundayNight,
      status: { state: 'Asleep', observedGeneration: 1, nextTransition: '2026-03-29T02:00:00.000Z' },
    };
    expect(planReconcile(asleep, new Date('2026-03-29T01:00:00Z'))).toMatchObject({ sleepPass: 'none' });
    // A week later, asleep again, but the wake at 02:00Z on 29 March never happened here.
    expect(planReconcile(asleep, new Date('2026-04-05T00:30:00Z'))).toMatchObject({ sleepPass: 'refresh' });
    // A spec change since the status was written: its nextTransition says nothing.
    const edited = { ...asleep, metadata: { ...asleep.metadata, generation: 2 } };
    expect(planReconcile(edited, new Date('2026-04-05T00:30:00Z'))).toMatchObject({ sleepPass: 'none' });
  });

  it('awake, suspended, invalid', () => {
    expect(planReconcile(berlinSundayNight, new Date('2026-03-29T02:00:00Z'))).toMatchObject({
      kind: 'awake',
    });
    expect(
      planReconcile(
        { ...berlinSundayNight, spec: { ...berlinSundayNight.spec, suspended: true } },
        new Date('2026-03-29T00:30:00Z'),
      ),
    ).toMatchObject({ kind: 'suspended' });
    const unknownZone = {
      ...berlinSundayNight,
      spec: { ...berlinSundayNight.spec, timezone: 'Mars/Olympus' },
    };
    expect(planReconcile(unknownZone, new Date())).toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(/timezone: must be an IANA time zone/),
    });
    const overlapping = {
      ...berlinSundayNight,
      spec: {
        ...berlinSundayNight.spec,
        windows: [
          { days: ['Sun'], from: '01:00', to: '04:00' },
          { days: ['Sun'], from: '03:00', to: '05:00' },
        ],
      },
    };
    expect(planReconcile(overlapping, new Date())).toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(/overlaps/),
    });
  });

  it('an override holds its state until `until`', () => {
    const held = {
      ...berlinSundayNight,
      spec: { ...berlinSundayNight.spec, override: { state: 'awake', until: '2026-03-29T01:00:00Z' } },
    };
    const plan = planReconcile(held, new Date('2026-03-29T00:30:00Z'));
    expect(plan).toMatchObject({ kind: 'awake' });
    if (plan.kind !== 'awake') throw new Error('unreachable');
    expect(plan.evaluation.nextTransition?.toISOString()).toBe('2026-03-29T01:00:00.000Z');
  });
});

describe('nextStatus', () => {
  const now = new Date('2026-03-29T00:00:00.250Z');
  const evaluation = evaluate(
    new Array(168).fill(false).map((_, i) => i >= 145 && i < 148),
    'Europe/Berlin',
    now,
  );

  it('moves lastTransition and the condition time only on change', () => {
    const ready = { status: 'True' as const, reason: 'Applied', message: 'ok' };
    const first = nextStatus(undefined, { generation: 1, now, state: 'Asleep', evaluation, ready });
    expect(first).toMatchObject({
      state: 'Asleep',
      lastTransition: '2026-03-29T00:00:00Z',
      nextTransition: '2026-03-29T02:00:00.000Z',
      nextState: 'Awake',
      observedGeneration: 1,
    });
    const later = new Date('2026-03-29T01:00:00Z');
    const same = nextStatus(first, { generation: 1, now: later, state: 'Asleep', evaluation, ready });
    expect(same.lastTransition).toBe(first.lastTransition);
    expect(same.conditions?.[0]?.lastTransitionTime).toBe(first.conditions?.[0]?.lastTransitionTime);
    expect(sameStatus(first, same)).toBe(true);
    const failed = nextStatus(same, {
      generation: 1,
      now: later,
      state: 'Error',
      evaluation,
      error: 'boom',
      ready: { status: 'False', reason: 'PassFailed', message: 'boom' },
    });
    expect(failed.lastTransition).toBe(kubeTime(later));
    expect(failed.conditions?.[0]).toMatchObject({ status: 'False', lastTransitionTime: kubeTime(later) });
    expect(sameStatus(same, failed)).toBe(false);
  });

  it('a suspended schedule has no next transition', () => {
    const s = nextStatus(undefined, {
      generation: 1,
      now,
      state: 'Suspended',
      evaluation,
      ready: { status: 'True', reason: 'Suspended', message: '' },
    });
    expect(s.nextTransition).toBeUndefined();
  });
});

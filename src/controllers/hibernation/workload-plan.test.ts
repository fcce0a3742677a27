import { describe, expect, it } from 'vitest';
import { HibernationScheduleSpec } from '../../crds/hibernation-schedule.ts';
import { labelSelectorQuery, workloadFacts } from './cluster.ts';
import { encodeRestoreRecord, hibernatedByLabel, hibernationRestoreAnnotation } from './restore-record.ts';
import {
  covers,
  excludedNamespaces,
  type HpaFacts,
  planSleep,
  planWake,
  protectedBy,
  type SleepContext,
  scaleTo,
  sleepPatch,
  type WorkloadFacts,
  wakePatch,
} from './workload-plan.ts';

const now = new Date('2026-06-01T17:00:00Z');
const spec = HibernationScheduleSpec.parse({
  timezone: 'UTC',
  matrix: '1'.repeat(168),
  namespaceSelector: { matchLabels: { env: 'dev' } },
  workloadSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
  exclude: [{ namespace: 'dev-a', kind: 'StatefulSet', name: 'kafka' }, { name: 'keep-me' }],
  kinds: ['Deployment', 'StatefulSet', 'CronJob'],
});
const devLabels = { env: 'dev' };

function deployment(over: Partial<WorkloadFacts> = {}): WorkloadFacts {
  return {
    kind: 'Deployment',
    namespace: 'dev-a',
    name: 'web',
    uid: 'u1',
    resourceVersion: '10',
    labels: {},
    annotations: {},
    replicas: 3,
    ...over,
  };
}

const ctx = (over: Partial<SleepContext> = {}): SleepContext => ({
  schedule: 'nights',
  now,
  policies: [],
  refresh: false,
  ...over,
});

const excluded = excludedNamespaces([]);

describe('covers', () => {
  it('takes kinds, namespace labels, workload labels and excludes into account', () => {
    expect(covers(spec, deployment(), devLabels, excluded)).toBe(true);
    expect(covers(spec, deployment(), { env: 'prod' }, excluded)).toBe(false);
    expect(covers(spec, deployment(), undefined, excluded)).toBe(false);
    expect(covers(spec, deployment({ labels: { tier: 'db' } }), devLabels, excluded)).toBe(false);
    expect(covers(spec, deployment({ kind: 'StatefulSet', name: 'kafka' }), devLabels, excluded)).toBe(false);
    expect(
      covers(
        spec,
        deployment({ kind: 'StatefulSet', name: 'kafka', namespace: 'dev-b' }),
        devLabels,
        excluded,
      ),
    ).toBe(true);
    expect(covers(spec, deployment({ name: 'keep-me', namespace: 'dev-z' }), devLabels, excluded)).toBe(
      false,
    );
    expect(
      covers({ ...spec, kinds: ['Deployment'] }, deployment({ kind: 'CronJob' }), devLabels, excluded),
    ).toBe(false);
  });

  it('never covers system namespaces or the agent namespace, even with {}', () => {
    const all = { ...spec, namespaceSelector: {}, workloadSelector: undefined };
    const defaults = excludedNamespaces([], 'clusteropt');
    expect(covers(all, deployment({ namespace: 'kube-system' }), {}, defaults)).toBe(false);
    expect(covers(all, deployment({ namespace: 'kube-node-lease' }), {}, defaults)).toBe(false);
    expect(covers(all, deployment({ namespace: 'clusteropt' }), {}, defaults)).toBe(false);
    expect(covers(all, deployment({ namespace: 'anything' }), {}, defaults)).toBe(true);
  });

  it('excludes the system namespaces while any AgentPolicy protects them (the default)', () => {
    const widened = { metadata: { name: 'w' }, spec: { protectSystemNamespaces: false } };
    expect(excludedNamespaces([widened], 'clusteropt')).toEqual([]);
    const other = { metadata: { name: 'o' }, spec: {} };
    expect(excludedNamespaces([widened, other], 'clusteropt')).toContain('kube-system');
  });

  it('ignores its own mark when matching workloadSelector', () => {
    const selector = {
      ...spec,
      workloadSelector: { matchExpressions: [{ key: hibernatedByLabel, operator: 'DoesNotExist' as const }] },
    };
    expect(
      covers(selector, deployment({ labels: { [hibernatedByLabel]: 'nights' } }), devLabels, excluded),
    ).toBe(true);
  });
});

describe('protectedBy', () => {
  it('names the first policy (by name) that protects the namespace or the labels', () => {
    const policies = [
      { metadata: { name: 'b' }, spec: { protectedWorkloadSelector: { matchLabels: { critical: 'yes' } } } },
      { metadata: { name: 'a' }, spec: { protectedNamespaces: ['dev-a'] } },
    ];
    expect(protectedBy(policies, deployment())).toMatch(/AgentPolicy a protects namespace dev-a/);
    expect(protectedBy(policies, deployment({ namespace: 'x', labels: { critical: 'yes' } }))).toMatch(
      /AgentPolicy b/,
    );
    expect(protectedBy(policies, deployment({ namespace: 'x' }))).toBeUndefined();
  });
});

describe('planSleep', () => {
  it('records replicas (also 0) and the suspend flag', () => {
    expect(planSleep(deployment(), ctx())).toEqual({
      kind: 'sleep',
      record: { schedule: 'nights', replicas: 3, at: now.toISOString() },
    });
    expect(planSleep(deployment({ replicas: 0 }), ctx())).toMatchObject({
      kind: 'sleep',
      record: { replicas: 0 },
    });
    const cron = deployment({ kind: 'CronJob', replicas: undefined, suspend: true });
    expect(planSleep(cron, ctx())).toMatchObject({ kind: 'sleep', record: { suspend: true } });
  });

  it('records the HPA and leaves a minReplicas>0 HPA alone', () => {
    const hpa: HpaFacts = {
      namespace: 'dev-a',
      name: 'web',
      targetKind: 'Deployment',
      targetName: 'web',
      minReplicas: 2,
      keda: false,
    };
    expect(planSleep(deployment(), ctx({ hpa }))).toMatchObject({
      kind: 'sleep',
      record: { replicas: 3, hpa: { name: 'web', minReplicas: 2 } },
    });
    expect(planSleep(deployment(), ctx({ hpa: { ...hpa, minReplicas: 0 } }))).toMatchObject({
      kind: 'skip',
      code: 'autoscaled_to_zero',
    });
    expect(planSleep(deployment(), ctx({ hpa: { ...hpa, keda: true } }))).toMatchObject({
      kind: 'skip',
      code: 'autoscaled_to_zero',
    });
  });

  it('skips do-not-disrupt, protected, owned and volume-deleting workloads', () => {
    expect(
      planSleep(deployment({ annotations: { 'clusteropt.io/do-not-disrupt': 'true' } }), ctx()),
    ).toMatchObject({ kind: 'skip', code: 'do_not_disrupt' });
    expect(
      planSleep(
        deployment(),
        ctx({ policies: [{ metadata: { name: 'p' }, spec: { protectedNamespaces: ['dev-a'] } }] }),
      ),
    ).toMatchObject({ kind: 'skip', code: 'protected' });
    expect(planSleep(deployment({ controller: 'Rollout/web' }), ctx())).toMatchObject({
      kind: 'skip',
      code: 'owned',
    });
    expect(
      planSleep(deployment({ kind: 'StatefulSet', deletesVolumesOnScaleDown: true }), ctx()),
    ).toMatchObject({ kind: 'skip', code: 'deletes_volumes' });
  });

  it('holds what it already put to sleep and leaves other schedules and unreadable records alone', () => {
    const mine = encodeRestoreRecord({ schedule: 'nights', replicas: 3, at: '2026-05-31T17:00:00Z' });
    const theirs = encodeRestoreRecord({ schedule: 'weekends', replicas: 3, at: '2026-05-31T17:00:00Z' });
    const asleep = deployment({ replicas: 0, annotations: { [hibernationRestoreAnnotation]: mine } });
    expect(planSleep(asleep, ctx())).toEqual({ kind: 'held' });
    expect(planSleep(asleep, ctx({ refresh: true }))).toEqual({ kind: 'held' });
    expect(
      planSleep(deployment({ annotations: { [hibernationRestoreAnnotation]: theirs } }), ctx()),
    ).toMatchObject({ kind: 'skip', code: 'other_schedule' });
    expect(
      planSleep(deployment({ annotations: { [hibernationRestoreAnnotation]: '{oops' } }), ctx()),
    ).toMatchObject({ kind: 'skip', code: 'record_unreadable' });
  });

  it('in a refresh pass, re-records a workload that runs again under its old record', () => {
    const mine = encodeRestoreRecord({ schedule: 'nights', replicas: 3, at: '2026-05-31T17:00:00Z' });
    const running = deployment({ replicas: 5, annotations: { [hibernationRestoreAnnotation]: mine } });
    expect(planSleep(running, ctx())).toEqual({ kind: 'held' });
    expect(planSleep(running, ctx({ refresh: true }))).toMatchObject({
      kind: 'sleep',
      record: { replicas: 5 },
    });
  });
});

describe('planWake', () => {
  const record = (over: object = {}) =>
    encodeRestoreRecord({ schedule: 'nights', replicas: 3, at: '2026-05-31T17:00:00Z', ...over });

  it('restores exactly the recorded value while still asleep', () => {
    const w = deployment({ replicas: 0, annotations: { [hibernationRestoreAnnotation]: record() } });
    expect(planWake(w, 'nights')).toMatchObject({ kind: 'restore', record: { replicas: 3 } });
    const zero = deployment({
      replicas: 0,
      annotations: { [hibernationRestoreAnnotation]: record({ replicas: 0 }) },
    });
    expect(planWake(zero, 'nights')).toMatchObject({ kind: 'restore', record: { replicas: 0 } });
    const cron = deployment({
      kind: 'CronJob',
      replicas: undefined,
      suspend: true,
      annotations: {
        [hibernationRestoreAnnotation]: encodeRestoreRecord({
          schedule: 'nights',
          suspend: false,
          at: now.toISOString(),
        }),
      },
    });
    expect(planWake(cron, 'nights')).toMatchObject({ kind: 'restore', record: { suspend: false } });
  });

  it('keeps a value someone set while it slept', () => {
    const w = deployment({ replicas: 1, annotations: { [hibernationRestoreAnnotation]: record() } });
    expect(planWake(w, 'nights')).toMatchObject({
      kind: 'release',
      reason: expect.stringMatching(/has 1 replicas/),
    });
  });

  it('leaves unreadable or foreign records, removes a mark without a record', () => {
    expect(
      planWake(deployment({ replicas: 0, annotations: { [hibernationRestoreAnnotation]: 'x' } }), 'nights'),
    ).toMatchObject({ kind: 'leave', code: 'record_unreadable' });
    expect(
      planWake(
        deployment({ replicas: 0, annotations: { [hibernationRestoreAnnotation]: record() } }),
        'other',
      ),
    ).toMatchObject({ kind: 'leave', code: 'other_schedule' });
    const cronWithReplicas = deployment({
      kind: 'CronJob',
      suspend: true,
      annotations: { [hibernationRestoreAnnotation]: record() },
    });
    expect(planWake(cronWithReplicas, 'nights')).toMatchObject({ kind: 'leave', code: 'record_unreadable' });
    expect(planWake(deployment({ replicas: 0 }), 'nights')).toMatchObject({ kind: 'unmark' });
  });
});

describe('patches', () => {
  it('sleep: record, mark and scale-down in one patch guarded by resourceVersion', () => {
    const w = deployment();
    const step = planSleep(w, ctx());
    if (step.kind !== 'sleep') throw new Error('expected sleep');
    expect(sleepPatch(w, step.record)).toEqual({
      metadata: {
        resourceVersion: '10',
        annotations: { [hibernationRestoreAnnotation]: JSON.stringify(step.record) },
        labels: { [hibernatedByLabel]: 'nights' },
      },
    });
    // Replicas go through /scale, in a second write (never in the patch: the admission
    // policy shipped with the chart denies any other spec change).
    expect(scaleTo(w, step)).toBe(0);
    expect(sleepPatch({ ...w, kind: 'CronJob' }, step.record).spec).toEqual({ suspend: true });
  });

  it('wake: restore sets the value, release only removes the marks', () => {
    const w = deployment({ replicas: 0 });
    const record = { schedule: 'nights', replicas: 3, at: now.toISOString() };
    const marksGone = {
      resourceVersion: '10',
      annotations: { [hibernationRestoreAnnotation]: null },
      labels: { [hibernatedByLabel]: null },
    };
    expect(wakePatch(w, { kind: 'restore', record })).toEqual({ metadata: marksGone });
    expect(scaleTo(w, { kind: 'restore', record })).toBe(3);
    expect(wakePatch(w, { kind: 'release', record, reason: '' })).toEqual({ metadata: marksGone });
    expect(scaleTo(w, { kind: 'release', record, reason: '' })).toBeUndefined();
    const cron = { ...w, kind: 'CronJob' as const, suspend: true };
    const cronRecord = { schedule: 'nights', suspend: false, at: now.toISOString() };
    expect(wakePatch(cron, { kind: 'restore', record: cronRecord })).toEqual({
      metadata: marksGone,
      spec: { suspend: false },
    });
  });

  it('finishes a sleep or a wake interrupted between its two writes', () => {
    const record = { schedule: 'nights', replicas: 3, at: now.toISOString() };
    const marked = { [hibernationRestoreAnnotation]: encodeRestoreRecord(record) };
    // Recorded, still at the recorded 3: the scale-down did not happen yet.
    const halfAsleep = deployment({ replicas: 3, annotations: marked });
    expect(planSleep(halfAsleep, ctx())).toEqual({ kind: 'sleep', record });
    // Changed since (5): left alone as before.
    expect(planSleep(deployment({ replicas: 5, annotations: marked }), ctx())).toEqual({ kind: 'held' });
    // Restored to 3 but still marked: the wake finishes by removing the marks only.
    const halfAwake = deployment({ replicas: 3, annotations: marked });
    expect(planWake(halfAwake, 'nights')).toEqual({ kind: 'restore', record });
    expect(scaleTo(halfAwake, { kind: 'restore', record })).toBeUndefined();
  });
});

describe('cluster helpers', () => {
  it('renders label selectors the way the API server parses them', () => {
    expect(labelSelectorQuery(undefined)).toBeUndefined();
    expect(labelSelectorQuery({})).toBeUndefined();
    expect(
      labelSelectorQuery({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'env', operator: 'NotIn', values: ['prod'] },
          { key: 'team', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier in (a,b),env notin (prod),team,!legacy');
  });

  it('reads workload facts from raw objects', () => {
    expect(
      workloadFacts('StatefulSet', {
        metadata: {
          name: 's',
          namespace: 'n',
          resourceVersion: '5',
          ownerReferences: [{ kind: 'Foo', name: 'f', controller: true }],
        },
        spec: { replicas: 2, persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' } },
      }),
    ).toMatchObject({ replicas: 2, controller: 'Foo/f', deletesVolumesOnScaleDown: true, labels: {} });
    expect(workloadFacts('CronJob', { metadata: { name: 'c' }, spec: {} })).toMatchObject({ suspend: false });
    expect(workloadFacts('CronJob', { metadata: { name: 'c' }, spec: {} }).replicas).toBeUndefined();
  });
});

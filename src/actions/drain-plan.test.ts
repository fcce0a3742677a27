import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PodFacts } from '../kube/pods.ts';
import { type OwnerInfo, ownerKey } from '../kube/workloads.ts';
import {
  type DrainFilterOptions,
  decidePod,
  drainBudget,
  evictionGraceSeconds,
  evictionWaves,
  isCriticalPod,
  planDrain,
} from './drain-plan.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');

function pod(over: Partial<PodFacts> = {}): PodFacts {
  return {
    namespace: 'ns',
    name: 'p',
    uid: 'uid-p',
    nodeName: 'n1',
    phase: 'Running',
    labels: {},
    annotations: {},
    controller: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid' },
    hasEmptyDir: false,
    priority: 0,
    priorityClassName: undefined,
    deletionTimestampMs: undefined,
    deletionGracePeriodSeconds: undefined,
    terminationGracePeriodSeconds: 30,
    ready: true,
    ...over,
  };
}

const ds = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds-uid' };
const opts = (over: Partial<DrainFilterOptions> = {}): DrainFilterOptions => ({
  force: false,
  deleteEmptyDirData: false,
  ignoreDaemonSets: true,
  ...over,
});
const noOwners = new Map<string, OwnerInfo>();

describe('decidePod: kubectl filters', () => {
  it('evicts a plain ReplicaSet pod', () => {
    expect(decidePod(pod(), noOwners, opts(), NOW)).toEqual({ action: 'evict', notes: [] });
  });

  it('skips DaemonSet pods with ignoreDaemonSets and blocks without it', () => {
    const p = pod({ controller: ds });
    expect(decidePod(p, noOwners, opts(), NOW)).toEqual({ action: 'skip', reason: 'daemonset' });
    expect(decidePod(p, noOwners, opts({ ignoreDaemonSets: false }), NOW)).toMatchObject({
      action: 'block',
      reason: 'daemonset-not-ignored',
    });
  });

  it('only counts apps/v1 DaemonSet controllers as DaemonSets (like kubectl)', () => {
    const p = pod({ controller: { ...ds, apiVersion: 'extensions/v1beta1' } });
    expect(decidePod(p, noOwners, opts(), NOW).action).toBe('evict');
  });

  it('treats a pod of a deleted DaemonSet like kubectl: blocked, or evicted with force', () => {
    const p = pod({ controller: ds });
    const owners = new Map([[ownerKey('ns', ds), { exists: false, annotations: {} }]]);
    expect(decidePod(p, owners, opts(), NOW)).toMatchObject({ action: 'block', reason: 'daemonset-missing' });
    expect(decidePod(p, owners, opts({ force: true }), NOW)).toEqual({
      action: 'evict',
      notes: ['orphaned-daemonset-pod'],
    });
  });

  it('lets finished DaemonSet pods be deleted', () => {
    expect(decidePod(pod({ controller: ds, phase: 'Succeeded' }), noOwners, opts(), NOW)).toEqual({
      action: 'evict',
      notes: ['terminal'],
    });
  });

  it('skips mirror pods whatever the flags', () => {
    const p = pod({ annotations: { 'kubernetes.io/config.mirror': 'abc' }, controller: undefined });
    for (const o of [opts(), opts({ force: true, deleteEmptyDirData: true })]) {
      expect(decidePod(p, noOwners, o, NOW)).toEqual({ action: 'skip', reason: 'mirror' });
    }
  });

  it('needs deleteEmptyDirData for emptyDir pods unless they finished', () => {
    const p = pod({ hasEmptyDir: true });
    expect(decidePod(p, noOwners, opts(), NOW)).toMatchObject({ action: 'block', reason: 'local-storage' });
    expect(decidePod(p, noOwners, opts({ deleteEmptyDirData: true }), NOW)).toEqual({
      action: 'evict',
      notes: ['emptydir-data-deleted'],
    });
    expect(decidePod({ ...p, phase: 'Failed' }, noOwners, opts(), NOW).action).toBe('evict');
  });

  it('needs force for pods without a controller unless they finished', () => {
    const p = pod({ controller: undefined });
    expect(decidePod(p, noOwners, opts(), NOW)).toMatchObject({ action: 'block', reason: 'unmanaged' });
    expect(decidePod(p, noOwners, opts({ force: true }), NOW)).toEqual({
      action: 'evict',
      notes: ['unmanaged-forced'],
    });
    expect(decidePod({ ...p, phase: 'Succeeded' }, noOwners, opts(), NOW)).toEqual({
      action: 'evict',
      notes: ['terminal'],
    });
  });

  it('never applies force in a protected system namespace', () => {
    const p = pod({ controller: undefined, namespace: 'kube-system' });
    expect(
      decidePod(p, noOwners, opts({ force: true, noForceNamespaces: ['kube-system'] }), NOW),
    ).toMatchObject({
      action: 'block',
      reason: 'unmanaged',
      message: expect.stringMatching(/force does not apply in system namespace kube-system/),
    });
    expect(decidePod(p, noOwners, opts({ force: true, noForceNamespaces: ['other'] }), NOW).action).toBe(
      'evict',
    );
  });

  it('applies the filters in kubectl order: an unmanaged emptyDir pod reports local storage first', () => {
    const p = pod({ controller: undefined, hasEmptyDir: true });
    expect(decidePod(p, noOwners, opts(), NOW)).toMatchObject({ reason: 'local-storage' });
    expect(decidePod(p, noOwners, opts({ deleteEmptyDirData: true }), NOW)).toMatchObject({
      reason: 'unmanaged',
    });
  });

  it('skips pods deleted longer ago than skipWaitForDeleteTimeoutSeconds (whole seconds, strictly greater)', () => {
    const o = opts({ skipWaitForDeleteTimeoutSeconds: 60 });
    const deletedAgo = (s: number) => pod({ deletionTimestampMs: NOW - s * 1000 });
    expect(decidePod(deletedAgo(61), noOwners, o, NOW)).toEqual({
      action: 'skip',
      reason: 'deleted-long-ago',
    });
    expect(decidePod(deletedAgo(60.9), noOwners, o, NOW).action).toBe('evict');
    expect(decidePod(deletedAgo(3600), noOwners, opts(), NOW).action).toBe('evict');
  });
});

describe('decidePod: do-not-disrupt', () => {
  it('blocks on the pod annotation', () => {
    const p = pod({ annotations: { 'clusteropt.io/do-not-disrupt': 'true' } });
    expect(decidePod(p, noOwners, opts({ force: true }), NOW)).toMatchObject({
      action: 'block',
      reason: 'do-not-disrupt',
    });
    expect(
      decidePod(pod({ annotations: { 'clusteropt.io/do-not-disrupt': 'false' } }), noOwners, opts(), NOW)
        .action,
    ).toBe('evict');
  });

  it("blocks on the owner's annotation and names the Deployment it came from", () => {
    const p = pod();
    const owners = new Map([
      [
        ownerKey('ns', p.controller!),
        { exists: true, annotations: { 'clusteropt.io/do-not-disrupt': 'true' }, via: 'Deployment/web' },
      ],
    ]);
    const d = decidePod(p, owners, opts(), NOW);
    expect(d).toMatchObject({ action: 'block', reason: 'do-not-disrupt' });
    expect(d.action === 'block' && d.message).toContain('Deployment/web');
  });

  it('does not block finished or already terminating pods', () => {
    const annotations = { 'clusteropt.io/do-not-disrupt': 'true' };
    expect(decidePod(pod({ annotations, phase: 'Succeeded' }), noOwners, opts(), NOW).action).toBe('evict');
    expect(decidePod(pod({ annotations, deletionTimestampMs: NOW }), noOwners, opts(), NOW).action).toBe(
      'evict',
    );
  });
});

describe('ordering', () => {
  it('recognises critical pods by class and by priority', () => {
    expect(isCriticalPod({ priorityClassName: 'system-node-critical', priority: undefined })).toBe(true);
    expect(isCriticalPod({ priorityClassName: 'system-cluster-critical', priority: 0 })).toBe(true);
    expect(isCriticalPod({ priorityClassName: undefined, priority: 2_000_000_000 })).toBe(true);
    expect(isCriticalPod({ priorityClassName: 'high', priority: 1_999_999_999 })).toBe(false);
  });

  it('evicts non-critical pods first, in a wave of their own', () => {
    const pods = [
      pod({ name: 'dns', uid: 'a', priorityClassName: 'system-cluster-critical' }),
      pod({ name: 'web-2', uid: 'b' }),
      pod({ name: 'web-1', uid: 'c' }),
      pod({ name: 'proxy', uid: 'd', priority: 2_000_001_000 }),
    ];
    const plan = planDrain(pods, noOwners, opts(), NOW);
    expect(plan.evict.map((e) => e.pod.name)).toEqual(['web-1', 'web-2', 'dns', 'proxy']);
    expect(evictionWaves(plan.evict).map((w) => w.map((e) => e.pod.name))).toEqual([
      ['web-1', 'web-2'],
      ['dns', 'proxy'],
    ]);
    expect(evictionWaves(plan.evict.filter((e) => !e.critical))).toHaveLength(1);
  });
});

const arbPod: fc.Arbitrary<PodFacts> = fc
  .record({
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
    namespace: fc.constantFrom('a', 'b', 'kube-system'),
    phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed', undefined),
    mirror: fc.boolean(),
    dnd: fc.constantFrom(undefined, 'true', 'false'),
    controller: fc.constantFrom(undefined, 'ReplicaSet', 'DaemonSet', 'StatefulSet', 'Job', 'Custom'),
    hasEmptyDir: fc.boolean(),
    priority: fc.constantFrom(undefined, 0, 1000, 2_000_000_000, 2_000_001_000),
    priorityClassName: fc.constantFrom(undefined, 'system-node-critical', 'system-cluster-critical', 'batch'),
    deletedSecondsAgo: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
  })
  .map((r) => ({
    namespace: r.namespace,
    name: r.name,
    uid: `${r.namespace}-${r.name}`,
    nodeName: 'n1',
    phase: r.phase,
    labels: {},
    annotations: {
      ...(r.mirror ? { 'kubernetes.io/config.mirror': 'x' } : {}),
      ...(r.dnd ? { 'clusteropt.io/do-not-disrupt': r.dnd } : {}),
    },
    controller: r.controller
      ? {
          apiVersion: r.controller === 'Job' ? 'batch/v1' : r.controller === 'Custom' ? 'x.io/v1' : 'apps/v1',
          kind: r.controller,
          name: `${r.controller.toLowerCase()}-1`,
          uid: 'c',
        }
      : undefined,
    hasEmptyDir: r.hasEmptyDir,
    priority: r.priority,
    priorityClassName: r.priorityClassName,
    deletionTimestampMs: r.deletedSecondsAgo === undefined ? undefined : NOW - r.deletedSecondsAgo * 1000,
    deletionGracePeriodSeconds: undefined,
    terminationGracePeriodSeconds: 30,
    ready: true,
  }));

const arbOptions: fc.Arbitrary<DrainFilterOptions> = fc.record({
  force: fc.boolean(),
  deleteEmptyDirData: fc.boolean(),
  ignoreDaemonSets: fc.boolean(),
  skipWaitForDeleteTimeoutSeconds: fc.constantFrom(undefined, 0, 30, 300),
});

const uniquePods = fc.uniqueArray(arbPod, { selector: (p) => p.uid, maxLength: 40 });

describe('planDrain properties', () => {
  it('puts every pod in exactly one bucket, non-critical evictions before critical ones', () => {
    fc.assert(
      fc.property(uniquePods, arbOptions, (pods, o) => {
        const plan = planDrain(pods, noOwners, o, NOW);
        const uids = [...plan.evict, ...plan.skipped, ...plan.blocked].map((x) => x.pod.uid).sort();
        expect(uids).toEqual(pods.map((p) => p.uid).sort());
        const firstCritical = plan.evict.findIndex((e) => e.critical);
        if (firstCritical >= 0) expect(plan.evict.slice(firstCritical).every((e) => e.critical)).toBe(true);
      }),
    );
  });

  it('never evicts what kubectl would not, nor anything do-not-disrupt', () => {
    fc.assert(
      fc.property(uniquePods, arbOptions, (pods, o) => {
        const plan = planDrain(pods, noOwners, o, NOW);
        for (const { pod: p } of plan.evict) {
          const finished = p.phase === 'Succeeded' || p.phase === 'Failed';
          expect('kubernetes.io/config.mirror' in p.annotations).toBe(false);
          if (!finished) {
            expect(p.controller?.kind === 'DaemonSet' && p.controller.apiVersion === 'apps/v1').toBe(false);
            if (!o.deleteEmptyDirData) expect(p.hasEmptyDir).toBe(false);
            if (!o.force) expect(p.controller).toBeDefined();
            if (p.deletionTimestampMs === undefined) {
              expect(p.annotations['clusteropt.io/do-not-disrupt']).not.toBe('true');
            }
          }
        }
      }),
    );
  });

  it('blocks exactly when kubectl would error, or do-not-disrupt applies', () => {
    fc.assert(
      fc.property(uniquePods, arbOptions, (pods, o) => {
        const plan = planDrain(pods, noOwners, o, NOW);
        // With every flag on and no do-not-disrupt, nothing can block.
        if (o.force && o.deleteEmptyDirData && o.ignoreDaemonSets) {
          for (const b of plan.blocked) expect(b.reason).toBe('do-not-disrupt');
        }
        for (const b of plan.blocked) {
          if (b.reason === 'unmanaged') expect(o.force).toBe(false);
          if (b.reason === 'local-storage') expect(o.deleteEmptyDirData).toBe(false);
          if (b.reason === 'daemonset-not-ignored') expect(o.ignoreDaemonSets).toBe(false);
        }
      }),
    );
  });
});

describe('drainBudget', () => {
  const createdAt = new Date(NOW - 20_000).toISOString();

  it('shrinks the timeout by the action age', () => {
    const b = drainBudget({ timeoutSeconds: 60, createdAt, deadlines: [], nowMs: NOW });
    expect(b).toEqual({ remainingMs: 40_000, endsAtMs: NOW + 40_000, limitedBy: 'timeout' });
  });

  it('uses the earliest deadline when it comes first', () => {
    const b = drainBudget({
      timeoutSeconds: 600,
      createdAt,
      deadlines: [new Date(NOW + 90_000).toISOString(), undefined, new Date(NOW + 30_000).toISOString()],
      nowMs: NOW,
    });
    expect(b).toMatchObject({ remainingMs: 30_000, limitedBy: 'deadline' });
  });

  it('never goes below zero and never grows with a createdAt in the future', () => {
    expect(drainBudget({ timeoutSeconds: 10, createdAt, deadlines: [], nowMs: NOW }).remainingMs).toBe(0);
    const future = new Date(NOW + 3_600_000).toISOString();
    expect(
      drainBudget({ timeoutSeconds: 10, createdAt: future, deadlines: [], nowMs: NOW }).remainingMs,
    ).toBe(10_000);
  });

  it('is bounded by the timeout and by every deadline', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 86_400 }),
        fc.integer({ min: -100_000_000, max: 100_000_000 }),
        fc.array(fc.integer({ min: -100_000_000, max: 100_000_000 }), { maxLength: 2 }),
        (timeout, ageMs, deadlineOffsets) => {
          const b = drainBudget({
            timeoutSeconds: timeout,
            createdAt: new Date(NOW - ageMs).toISOString(),
            deadlines: deadlineOffsets.map((o) => new Date(NOW + o).toISOString()),
            nowMs: NOW,
          });
          expect(b.remainingMs).toBeGreaterThanOrEqual(0);
          expect(b.remainingMs).toBeLessThanOrEqual(timeout * 1000);
          expect(b.remainingMs).toBeLessThanOrEqual(Math.max(0, timeout * 1000 - Math.max(0, ageMs)));
          for (const o of deadlineOffsets) expect(b.remainingMs).toBeLessThanOrEqual(Math.max(0, o));
        },
      ),
    );
  });
});

describe('grace periods', () => {
  const noFloor = { minGracePeriodSeconds: 0 };
  it('evicts with the payload grace, else the pod own, capped by policy', () => {
    expect(evictionGraceSeconds({ terminationGracePeriodSeconds: 30 }, undefined, noFloor)).toBeUndefined();
    expect(evictionGraceSeconds({ terminationGracePeriodSeconds: 30 }, 5, noFloor)).toBe(5);
    expect(
      evictionGraceSeconds({ terminationGracePeriodSeconds: 30 }, 60, {
        ...noFloor,
        maxGracePeriodSeconds: 20,
      }),
    ).toBe(20);
    expect(
      evictionGraceSeconds({ terminationGracePeriodSeconds: 300 }, undefined, {
        ...noFloor,
        maxGracePeriodSeconds: 60,
      }),
    ).toBe(60);
    expect(
      evictionGraceSeconds({ terminationGracePeriodSeconds: 30 }, undefined, {
        ...noFloor,
        maxGracePeriodSeconds: 60,
      }),
    ).toBeUndefined();
  });

  it('never asks for less than the minimum (default 30 s), nor more than the pod own or the maximum', () => {
    // A hostile grace of 0 gets the floor.
    expect(evictionGraceSeconds({ terminationGracePeriodSeconds: 3600 }, 0, {})).toBe(30);
    expect(
      evictionGraceSeconds({ terminationGracePeriodSeconds: 3600 }, 0, { minGracePeriodSeconds: 120 }),
    ).toBe(120);
    // A pod whose own grace is shorter than the floor keeps its own.
    expect(evictionGraceSeconds({ terminationGracePeriodSeconds: 5 }, 0, {})).toBe(5);
    // The floor never exceeds the maximum an admin set.
    expect(
      evictionGraceSeconds({ terminationGracePeriodSeconds: 3600 }, 0, { maxGracePeriodSeconds: 10 }),
    ).toBe(10);
    expect(evictionGraceSeconds({ terminationGracePeriodSeconds: 3600 }, 600, {})).toBe(600);
  });
});

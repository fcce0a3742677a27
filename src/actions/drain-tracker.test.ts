import { describe, expect, it } from 'vitest';
import type { PodFacts } from '../kube/pods.ts';
import { DrainTracker } from './drain-tracker.ts';

const T0 = 1_000_000;

function pod(name: string, over: Partial<PodFacts> = {}): PodFacts {
  return {
    namespace: 'ns',
    name,
    uid: `uid-${name}`,
    nodeName: 'n1',
    phase: 'Running',
    labels: {},
    annotations: {},
    controller: undefined,
    hasEmptyDir: false,
    priority: undefined,
    priorityClassName: undefined,
    deletionTimestampMs: undefined,
    deletionGracePeriodSeconds: undefined,
    terminationGracePeriodSeconds: 30,
    ready: true,
    ...over,
  };
}

const tracker = () => new DrainTracker({ notReadyMarginMs: 5_000 });

describe('DrainTracker', () => {
  it('finishes a pod on its DELETED event', () => {
    const t = tracker();
    t.wait(pod('a'), T0);
    expect(t.takeDone(T0)).toEqual([]);
    t.deleted(pod('a'), T0 + 10);
    expect(t.takeDone(T0 + 10)).toMatchObject([{ pod: { name: 'a' }, reason: 'gone', atMs: T0 + 10 }]);
    expect(t.pendingCount).toBe(0);
  });

  it('finishes at once a pod whose DELETED event arrived before its eviction response', () => {
    const t = tracker();
    t.deleted(pod('a'), T0);
    expect(t.isGone('uid-a')).toBe(true);
    t.wait(pod('a'), T0 + 5);
    expect(t.takeDone(T0 + 5)).toMatchObject([{ reason: 'gone' }]);
  });

  it('treats pods missing from a relist as gone, and keeps the others', () => {
    const t = tracker();
    t.wait(pod('a'), T0);
    t.wait(pod('b'), T0);
    t.relisted([pod('b')], T0 + 1);
    expect(t.takeDone(T0 + 1).map((d) => d.pod.name)).toEqual(['a']);
    expect(t.pending().map((p) => p.name)).toEqual(['b']);
  });

  it('finishes a pod whose name now belongs to a new UID (replaced)', () => {
    const t = tracker();
    t.wait(pod('web-0'), T0);
    t.upsert(pod('web-0', { uid: 'uid-new' }), T0 + 1);
    expect(t.takeDone(T0 + 1)).toMatchObject([{ pod: { uid: 'uid-web-0' }, reason: 'replaced' }]);
    // Waiting for a pod already replaced finishes immediately too.
    t.wait(pod('web-0'), T0 + 2);
    expect(t.takeDone(T0 + 2)).toMatchObject([{ reason: 'replaced' }]);
  });

  it('does not give up on a terminating pod while the node is Ready', () => {
    const t = tracker();
    t.wait(pod('a'), T0);
    t.upsert(pod('a', { deletionTimestampMs: T0 + 30_000 }), T0);
    expect(t.takeDone(T0 + 3_600_000)).toEqual([]);
    expect(t.nextTimedCheck()).toBeUndefined();
  });

  it('gives up on a pod stuck terminating on a NotReady node after grace + margin', () => {
    const t = tracker();
    t.setNodeReady(false);
    t.wait(pod('a', { deletionTimestampMs: T0 + 2_000 }), T0);
    t.wait(pod('b'), T0); // eviction accepted, deletion not yet observed: no timer yet
    expect(t.nextTimedCheck()).toBe(T0 + 7_000);
    expect(t.takeDone(T0 + 6_999)).toEqual([]);
    expect(t.takeDone(T0 + 7_000)).toMatchObject([{ pod: { name: 'a' }, reason: 'stuck-on-not-ready-node' }]);
    expect(t.pending().map((p) => p.name)).toEqual(['b']);
  });

  it('uses the deletion the watch reported before the eviction response arrived', () => {
    const t = tracker();
    t.setNodeReady(false);
    // Watch first (the pod is already terminating), then the eviction's answer with the
    // pod as planned (no deletionTimestamp): the timer must still be armed.
    t.upsert(pod('a', { deletionTimestampMs: T0 + 1_000 }), T0);
    t.wait(pod('a'), T0 + 1);
    expect(t.nextTimedCheck()).toBe(T0 + 6_000);
    expect(t.takeDone(T0 + 6_000)).toMatchObject([{ reason: 'stuck-on-not-ready-node' }]);
  });

  it('stops giving up when the node becomes Ready again', () => {
    const t = tracker();
    t.setNodeReady(false);
    t.wait(pod('a', { deletionTimestampMs: T0 }), T0);
    t.setNodeReady(true);
    expect(t.takeDone(T0 + 60_000)).toEqual([]);
  });

  it("applies kubectl's skip-wait-for-delete-timeout on any node", () => {
    const t = new DrainTracker({ notReadyMarginMs: 5_000, skipWaitForDeleteTimeoutMs: 10_000 });
    t.wait(pod('a', { deletionTimestampMs: T0 }), T0);
    expect(t.nextTimedCheck()).toBe(T0 + 11_000);
    expect(t.takeDone(T0 + 10_500)).toEqual([]);
    expect(t.takeDone(T0 + 11_000)).toMatchObject([{ reason: 'deleted-long-ago' }]);
  });

  it('reports each pod once', () => {
    const t = tracker();
    t.wait(pod('a'), T0);
    t.wait(pod('a'), T0);
    t.deleted(pod('a'), T0);
    t.deleted(pod('a'), T0);
    t.relisted([], T0);
    expect(t.takeDone(T0)).toHaveLength(1);
    expect(t.takeDone(T0)).toHaveLength(0);
  });
});

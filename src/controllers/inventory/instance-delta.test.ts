import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceReport } from '../../contract/reports.ts';
import { applyInstanceDelta, diffInstances, sameInstance } from './instance-delta.ts';

const report = (name: string, over: Partial<InstanceReport> = {}): InstanceReport => ({
  nodeName: name,
  nodeUid: `uid-${name}`,
  lifecycle: 'on-demand',
  ready: true,
  schedulable: true,
  agentTaints: [],
  ...over,
});

/** Reports over a small name space, so successive snapshots overlap, change and drop names. */
const arbReport = fc
  .record({
    name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
    uid: fc.constantFrom('u1', 'u2'),
    lifecycle: fc.constantFrom('spot', 'on-demand', 'unknown'),
    ready: fc.boolean(),
    schedulable: fc.boolean(),
    taints: fc.subarray(['clusteropt.io/draining:NoSchedule', 'clusteropt.io/x=1:NoExecute']),
    instanceType: fc.option(fc.constantFrom('m5.large', 'c6i.xlarge'), { nil: undefined }),
    ec2: fc.option(
      fc.record({
        state: fc.constantFrom('running', 'stopping'),
        spotInstanceRequestId: fc.constantFrom('sir-1'),
      }),
      { nil: undefined },
    ),
  })
  .map(
    (r): InstanceReport => ({
      ...report(r.name, {
        nodeUid: r.uid,
        lifecycle: r.lifecycle,
        ready: r.ready,
        schedulable: r.schedulable,
        agentTaints: r.taints,
      }),
      ...(r.instanceType ? { instanceType: r.instanceType } : {}),
      ...(r.ec2 ? { ec2: r.ec2 } : {}),
    }),
  );
const arbSnapshot = fc
  .array(arbReport, { maxLength: 8 })
  .map((reports) => new Map(reports.map((r) => [r.nodeName, r])));

const asSorted = (m: ReadonlyMap<string, InstanceReport>) =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, r]) => r);

describe('diffInstances', () => {
  it('applying the deltas in sequence to the first snapshot gives the last one', () => {
    fc.assert(
      fc.property(fc.array(arbSnapshot, { minLength: 1, maxLength: 12 }), (snapshots) => {
        const receiver = new Map(snapshots[0]);
        for (let i = 1; i < snapshots.length; i++) {
          const delta = diffInstances(snapshots[i - 1]!, snapshots[i]!);
          applyInstanceDelta(receiver, { instances: delta.upserts, removed: delta.removed });
        }
        expect(asSorted(receiver)).toEqual(asSorted(snapshots[snapshots.length - 1]!));
      }),
    );
  });

  it('is minimal: only changed reports are upserted, only vanished names removed', () => {
    fc.assert(
      fc.property(arbSnapshot, arbSnapshot, (before, after) => {
        const delta = diffInstances(before, after);
        for (const r of delta.upserts) {
          const old = before.get(r.nodeName);
          expect(old === undefined || !sameInstance(old, r)).toBe(true);
        }
        for (const name of delta.removed) expect(after.has(name)).toBe(false);
        const unchanged = [...after.values()].filter((r) => {
          const old = before.get(r.nodeName);
          return old !== undefined && sameInstance(old, r);
        });
        expect(delta.upserts.length + unchanged.length).toBe(after.size);
        expect(diffInstances(after, after)).toEqual({ upserts: [], removed: [] });
      }),
    );
  });

  it('restricted to touched keys, it agrees with the full diff when only those changed', () => {
    fc.assert(
      fc.property(
        arbSnapshot,
        arbSnapshot,
        fc.subarray(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']),
        (x, y, keys) => {
          // `current` equals `previous` outside `keys`.
          const current = new Map(x);
          for (const k of keys) {
            const r = y.get(k);
            if (r) current.set(k, r);
            else current.delete(k);
          }
          expect(diffInstances(x, current, keys)).toEqual(diffInstances(x, current));
        },
      ),
    );
  });

  it('sees a changed ec2 fact, a new uid and a taint', () => {
    const a = report('n1', { ec2: { state: 'running' } });
    expect(sameInstance(a, { ...a, ec2: { state: 'stopping' } })).toBe(false);
    expect(sameInstance(a, { ...a, ec2: undefined })).toBe(false);
    expect(sameInstance(a, { ...a, nodeUid: 'other' })).toBe(false);
    expect(sameInstance(a, { ...a, agentTaints: ['clusteropt.io/draining:NoSchedule'] })).toBe(false);
    expect(sameInstance(a, { ...a, ec2: { state: 'running' } })).toBe(true);
  });
});

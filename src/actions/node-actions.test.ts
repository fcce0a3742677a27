import type { V1Node } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../contract/envelope.ts';
import { nodeIdentityMismatch } from '../contract/node-identity.ts';
import { PatchNodePayload } from '../contract/payloads.ts';
import type { NodeChange } from '../kube/nodes.ts';
import { planCordon } from './cordon-node.ts';
import { isEvictingPatch, patchNodeDisruption, planPatchNode } from './patch-node.ts';
import { decideScale } from './scale-workload.ts';
import { planUncordon } from './uncordon-node.ts';

const ACTION = '6f1c1f9e-2b7a-4d59-9a43-0d1f4b1e2a11';

function node(
  over: { unschedulable?: boolean; annotations?: Record<string, string>; taints?: V1Node['spec'] } = {},
) {
  return {
    metadata: { name: 'n1', uid: 'uid-1', annotations: over.annotations ?? {}, labels: { a: '1' } },
    spec: {
      unschedulable: over.unschedulable,
      taints: over.taints?.taints,
      providerID: 'aws:///eu-west-1a/i-1',
    },
  } as V1Node;
}

/** What the API server does with a NodeChange merge patch (for replay checks). */
function apply(n: V1Node, change: NodeChange | null): V1Node {
  if (!change) return n;
  const merge = (cur: Record<string, string> = {}, patch: Record<string, string | null> = {}) => {
    const out = { ...cur };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = v;
    }
    return out;
  };
  return {
    ...n,
    metadata: {
      ...n.metadata,
      labels: merge(n.metadata?.labels, change.labels),
      annotations: merge(n.metadata?.annotations, change.annotations),
    },
    spec: {
      ...n.spec,
      ...(change.unschedulable !== undefined ? { unschedulable: change.unschedulable } : {}),
      ...(change.taints !== undefined ? { taints: change.taints } : {}),
    },
  };
}

describe('node identity', () => {
  it('accepts the node when the given identity matches, and when none is given', () => {
    expect(nodeIdentityMismatch(node(), { nodeName: 'n1' })).toBeUndefined();
    expect(
      nodeIdentityMismatch(node(), {
        nodeName: 'n1',
        providerId: 'aws:///eu-west-1a/i-1',
        nodeUid: undefined,
      }),
    ).toBeUndefined();
  });

  it('names every mismatch', () => {
    const why = nodeIdentityMismatch(node(), {
      nodeName: 'n1',
      providerId: 'aws:///eu-west-1a/i-2',
      nodeUid: '0b0b0b0b-0000-4000-8000-000000000000',
    });
    expect(why).toContain('providerID is aws:///eu-west-1a/i-1');
    expect(why).toContain('uid is uid-1');
  });

  it('does not match a node without providerID when the action names one', () => {
    const n = node();
    delete n.spec!.providerID;
    expect(nodeIdentityMismatch(n, { nodeName: 'n1', providerId: 'aws:///x/i-1' })).toContain('unset');
  });
});

describe('cordon and uncordon planning', () => {
  it('cordons and records the action when the node was schedulable', () => {
    const plan = planCordon(node(), ACTION, { taint: false });
    expect(plan).toEqual({
      change: { unschedulable: true, annotations: { 'clusteropt.io/cordoned-by': ACTION } },
      cordon: 'added',
      taint: 'not-requested',
    });
  });

  it('does not claim a cordon someone else made, and the uncordon leaves it', () => {
    const n = node({ unschedulable: true });
    expect(planCordon(n, ACTION, { taint: false })).toMatchObject({ change: null, cordon: 'kept-other' });
    const drained = apply(n, planCordon(n, ACTION, { taint: true }).change);
    const undo = planUncordon(drained);
    expect(undo.cordon).toBe('left-other');
    expect(undo.taintRemoved).toBe(true);
    const after = apply(drained, undo.change);
    expect(after.spec?.unschedulable).toBe(true);
    expect(after.spec?.taints).toEqual([]);
  });

  it('adds the draining taint once, next to existing taints', () => {
    const n = node({ taints: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } });
    const plan = planCordon(n, ACTION, { taint: true });
    expect(plan.change?.taints).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'clusteropt.io/draining', value: ACTION, effect: 'NoSchedule' },
    ]);
    const replay = planCordon(apply(n, plan.change), 'another-action', { taint: true });
    expect(replay).toEqual({ change: null, cordon: 'kept-agent', taint: 'present' });
  });

  it('uncordon removes exactly what the agent added, and a replay changes nothing', () => {
    const original = node({ taints: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } });
    const drained = apply(original, planCordon(original, ACTION, { taint: true }).change);
    const undo = planUncordon(drained);
    expect(undo.cordon).toBe('removed');
    const after = apply(drained, undo.change);
    expect(after.spec?.unschedulable).toBe(false);
    expect(after.metadata?.annotations).toEqual({});
    expect(after.spec?.taints).toEqual([{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    expect(planUncordon(after)).toEqual({ change: null, cordon: 'not-cordoned', taintRemoved: false });
  });

  it('cleans a stale cordoned-by mark after a manual uncordon', () => {
    const n = node({ unschedulable: false, annotations: { 'clusteropt.io/cordoned-by': ACTION } });
    expect(planUncordon(n).change).toEqual({ annotations: { 'clusteropt.io/cordoned-by': null } });
  });
});

describe('patch_node', () => {
  const parse = (payload: unknown) => PatchNodePayload.safeParse(payload);

  it('merges labels and annotations; null removes a key; unchanged keys are not sent', () => {
    const n = node({ annotations: { keep: 'x', drop: 'y' } });
    const plan = planPatchNode(
      n,
      parse({ nodeName: 'n1', labels: { a: '1', b: '2' }, annotations: { drop: null, gone: null } }).data!,
    );
    expect(plan.change).toEqual({ labels: { b: '2' }, annotations: { drop: null } });
    expect(plan.labelsChanged).toEqual(['b']);
  });

  it('adds, replaces (by key+effect) and removes taints', () => {
    const n = node({
      taints: {
        taints: [
          { key: 'a', value: '1', effect: 'NoSchedule' },
          { key: 'a', value: '1', effect: 'NoExecute' },
          { key: 'b', effect: 'NoSchedule' },
        ],
      },
    });
    const plan = planPatchNode(
      n,
      parse({
        nodeName: 'n1',
        taints: [
          { key: 'a', value: '2', effect: 'NoSchedule' },
          { key: 'c', effect: 'PreferNoSchedule' },
        ],
        removeTaints: [{ key: 'b', effect: 'NoSchedule' }],
      }).data!,
    );
    expect(plan.change?.taints).toEqual([
      { key: 'a', value: '2', effect: 'NoSchedule' },
      { key: 'a', value: '1', effect: 'NoExecute' },
      { key: 'c', effect: 'PreferNoSchedule' },
    ]);
    expect(plan).toMatchObject({
      taintsAdded: ['c:PreferNoSchedule'],
      taintsReplaced: ['a:NoSchedule'],
      taintsRemoved: ['b:NoSchedule'],
    });
  });

  it('records the taints it adds, so removing them later is known to undo its own change', () => {
    const added = planPatchNode(
      node(),
      parse({ nodeName: 'n1', taints: [{ key: 'gpu', effect: 'NoSchedule' }] }).data!,
    );
    expect(added.change?.annotations).toEqual({ 'clusteropt.io/patched-taints': '["gpu:NoSchedule"]' });
    const tainted = apply(node(), added.change);
    const removal = parse({ nodeName: 'n1', removeTaints: [{ key: 'gpu', effect: 'NoSchedule' }] }).data!;
    const ours = patchNodeDisruption(removal, tainted.metadata?.annotations ?? {});
    expect(ours).toEqual({ noExecuteAdded: [], foreignTaintsRemoved: [] });
    expect(isEvictingPatch(ours)).toBe(false);
    // The removal drops it from the record (the annotation goes with the last one).
    expect(planPatchNode(tainted, removal).change?.annotations).toEqual({
      'clusteropt.io/patched-taints': null,
    });
    // A taint someone else put there: removing it is disruptive; unknown annotations too.
    expect(patchNodeDisruption(removal, {})).toEqual({
      noExecuteAdded: [],
      foreignTaintsRemoved: ['gpu:NoSchedule'],
    });
    expect(isEvictingPatch(patchNodeDisruption(removal, undefined))).toBe(true);
    const noExecute = parse({ nodeName: 'n1', taints: [{ key: 'x', effect: 'NoExecute' }] }).data!;
    expect(isEvictingPatch(patchNodeDisruption(noExecute, {}))).toBe(true);
    // The record is the agent's own: patch_node cannot write it.
    expect(parse({ nodeName: 'n1', annotations: { 'clusteropt.io/patched-taints': '[]' } }).success).toBe(
      false,
    );
  });

  it("refuses the agent's own marks and contradictory taints (rejected at parse time)", () => {
    expect(parse({ nodeName: 'n1', annotations: { 'clusteropt.io/cordoned-by': null } }).success).toBe(false);
    expect(
      parse({ nodeName: 'n1', removeTaints: [{ key: 'clusteropt.io/draining', effect: 'NoSchedule' }] })
        .success,
    ).toBe(false);
    expect(
      parse({
        nodeName: 'n1',
        taints: [{ key: 'x', effect: 'NoSchedule' }],
        removeTaints: [{ key: 'x', effect: 'NoSchedule' }],
      }).success,
    ).toBe(false);
    expect(parse({ nodeName: 'n1' }).success).toBe(false);
    const env = parseEnvelope({
      id: ACTION,
      type: 'patch_node',
      createdAt: '2026-01-01T00:00:00Z',
      payload: { nodeName: 'n1', annotations: { 'clusteropt.io/cordoned-by': 'x' } },
    });
    expect(env.ok).toBe(false);
  });

  it('is idempotent: planning again on the patched node changes nothing', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'example.com/d');
    const payload = fc.record({
      labels: fc.option(fc.dictionary(key, fc.option(fc.constantFrom('1', '2', ''), { nil: null })), {
        nil: undefined,
      }),
      annotations: fc.option(fc.dictionary(key, fc.option(fc.constantFrom('x', 'y'), { nil: null })), {
        nil: undefined,
      }),
      taints: fc.option(
        fc.uniqueArray(
          fc.record({
            key,
            value: fc.option(fc.constantFrom('1', '2'), { nil: undefined }),
            effect: fc.constantFrom('NoSchedule' as const, 'NoExecute' as const),
          }),
          { selector: (t) => `${t.key}:${t.effect}`, maxLength: 4 },
        ),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(payload, (p) => {
        const parsed = parse({ nodeName: 'n1', ...p, annotations: p.annotations ?? { z: 'z' } });
        if (!parsed.success) return;
        const start = node({ taints: { taints: [{ key: 'a', value: '1', effect: 'NoSchedule' }] } });
        const once = apply(start, planPatchNode(start, parsed.data).change);
        expect(planPatchNode(once, parsed.data).change).toBeNull();
      }),
    );
  });
});

describe('scale decisions', () => {
  it('scales when the precondition holds or is absent', () => {
    expect(decideScale({ replicas: 5, expectedReplicas: 3 }, 3, false)).toEqual({ kind: 'scale' });
    expect(decideScale({ replicas: 0 }, 3, false)).toEqual({ kind: 'scale' });
  });

  it('reports a conflict and changes nothing when the count differs from expectedReplicas', () => {
    expect(decideScale({ replicas: 5, expectedReplicas: 3 }, 4, false)).toMatchObject({ kind: 'conflict' });
  });

  it('is done when already at the target (a replay after a crash)', () => {
    expect(decideScale({ replicas: 5, expectedReplicas: 3 }, 5, true)).toEqual({ kind: 'noop' });
  });

  it('refuses a scale-up past the policy limits (checked again on the replicas read before writing)', () => {
    const limits = { maxReplicas: 100, maxScaleUpFactor: 2 };
    expect(decideScale({ replicas: 6 }, 3, false, limits)).toEqual({ kind: 'scale' });
    expect(decideScale({ replicas: 7 }, 3, false, limits)).toMatchObject({ kind: 'over-limit' });
    expect(decideScale({ replicas: 100_000 }, 90_000, false, limits)).toMatchObject({ kind: 'over-limit' });
    // The defaults apply when no limits are given; scaling down never hits them.
    expect(decideScale({ replicas: 500 }, 300, false)).toMatchObject({ kind: 'over-limit' });
    expect(decideScale({ replicas: 200 }, 300, false)).toEqual({ kind: 'scale' });
  });

  it('refuses to scale a do-not-disrupt workload down, but not up', () => {
    expect(decideScale({ replicas: 1 }, 3, true)).toMatchObject({ kind: 'refused' });
    expect(decideScale({ replicas: 4 }, 3, true)).toEqual({ kind: 'scale' });
  });
});
